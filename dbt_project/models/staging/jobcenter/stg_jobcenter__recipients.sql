-- People in benefit households (SGB II) on the last day of the month, one row per person.
with source as (
    select * from {{ source('raw', 'jobcenter') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        berichtsmonat,
        -- person (pseudonyms re-keyed at load)
        person_id,
        bg_id,
        geburtsjahr,
        geschlecht,
        staatsangehoerigkeit,
        fluchtkontext,
        ags,
        -- benefit status (J/N flags as booleans)
        elb,
        arbeitslos,
        erwerbstaetig,
        integrationskurs,
        integration_beschaeftigung
    from source
)

select * from renamed
