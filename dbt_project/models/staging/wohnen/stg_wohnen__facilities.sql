-- Refugee accommodation facilities on the monthly count day, one row per facility.
with source as (
    select * from {{ source('raw', 'unterbringung') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        stichtag,
        -- facility
        einrichtung_id,
        einrichtung,
        art,
        ags,
        -- occupancy
        plaetze,
        belegt,
        davon_gestattung,
        davon_schutzstatus,
        davon_duldung,
        davon_sonstige,
        auszuege_privat
    from source
)

select * from renamed
