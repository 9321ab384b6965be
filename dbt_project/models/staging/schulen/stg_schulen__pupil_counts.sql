-- Pupils on the school statistics day, per school, grade, nationality group and sex (aggregated).
with source as (
    select * from {{ source('raw', 'schulstatistik') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        schuljahr,
        -- school (ags = where the school stands)
        schulnummer,
        schulname,
        ags,
        schulart,
        -- cell
        klassenstufe,
        staatsangehoerigkeit,
        geschlecht,
        schueler
    from source
)

select * from renamed
