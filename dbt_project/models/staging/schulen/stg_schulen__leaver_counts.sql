-- School leavers at the end of the school year, per municipality, school type, certificate,
-- nationality group and sex (aggregated).
with source as (
    select * from {{ source('raw', 'schulabgaenger') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        schuljahr,
        -- cell (ags = where the school stands)
        ags,
        schulart,
        abschluss,
        staatsangehoerigkeit,
        geschlecht,
        anzahl
    from source
)

select * from renamed
