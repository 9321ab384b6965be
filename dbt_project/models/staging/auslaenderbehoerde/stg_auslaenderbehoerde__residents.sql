-- Foreign residents registered in the district on the last day of the month, one row per person.
with source as (
    select * from {{ source('raw', 'abh_bestand') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        stichtag,
        -- person (pseudonym re-keyed at load)
        person_id,
        geburtsjahr,
        geschlecht,
        staatsangehoerigkeit,
        ags,
        -- residence
        einreisedatum,
        aufenthaltsstatus
    from source
)

select * from renamed
