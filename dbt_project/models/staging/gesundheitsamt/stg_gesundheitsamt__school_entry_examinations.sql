-- School-entry examinations (Einschulungsuntersuchung, step 1), one row per examined child
-- of the examination year `YYYY/YY` (file esu_YYYY, period = YYYY).
with source as (
    select * from {{ source('raw', 'esu') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        untersuchungsjahr,
        -- child (pseudonym re-keyed at load)
        kind_id,
        untersuchungsdatum,
        geburtsjahr,
        geschlecht,
        ags,
        staatsangehoerigkeit,
        familiensprache,
        -- findings (J/N flags as booleans)
        kita_monate,
        vorsorgeheft,
        u8,
        impfpass,
        masern_impfungen,
        sprachbefund
    from source
)

select * from renamed
