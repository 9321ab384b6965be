-- Residents on 31 December per municipality, sex, age group and nationality group (aggregated).
with source as (
    select * from {{ source('raw', 'bevoelkerung') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        stichtag,
        -- cell
        ags,
        geschlecht,
        altersgruppe,
        staatsangehoerigkeit,
        anzahl
    from source
)

select * from renamed
