-- Children in day care on 1 March per municipality of the Kita or child-minder, type of care,
-- age group, foreign origin and home language (aggregated KJH statistics, file kita_YYYY).
with source as (
    select * from {{ source('raw', 'kita') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        stichtag,
        -- cell
        ags,
        betreuungsart,
        altersgruppe,
        herkunft,
        familiensprache,
        kinder
    from source
)

select * from renamed
