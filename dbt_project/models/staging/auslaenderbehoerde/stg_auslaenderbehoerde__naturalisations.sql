-- Naturalisation certificates handed over in the month, one row per person.
with source as (
    select * from {{ source('raw', 'abh_einbuergerungen') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        einbuergerungsdatum,
        -- person (pseudonym re-keyed at load)
        person_id,
        geburtsjahr,
        geschlecht,
        bisherige_staatsangehoerigkeit,
        ags
    from source
)

select * from renamed
