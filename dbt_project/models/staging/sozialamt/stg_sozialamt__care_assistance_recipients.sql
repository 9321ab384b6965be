-- People receiving long-term care assistance (Hilfe zur Pflege, SGB XII chapter 7) on
-- 31 December, one row per person (file hilfe_zur_pflege_YYYY).
with source as (
    select * from {{ source('raw', 'hilfe_zur_pflege') }}
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
        -- benefit
        leistungsort,
        pflegegrad
    from source
)

select * from renamed
