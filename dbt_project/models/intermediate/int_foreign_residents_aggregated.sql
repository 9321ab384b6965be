{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('abh_bestand') }}"
    )
}}
-- Foreign residents per month-end snapshot, municipality and status group (REC-01, REC-02),
-- with those resident for at least five full years at the end of the snapshot's year (REC-04).
-- Incremental: only the periods listed for abh_bestand in meta.changed_periods are (re)aggregated.

with residents as (
    select * from {{ ref('stg_auslaenderbehoerde__residents') }}
    where {{ changed_periods_filter('abh_bestand') }}
),

status as (
    select code, statusgruppe from {{ ref('aufenthaltsstatus') }}
)

select
    residents.period,
    residents.file_sha256,
    residents.ags,
    status.statusgruppe,
    count(*) as n_persons,
    -- entered on or before 31 December five years before the snapshot's year; for the
    -- December snapshot of Y-1 that is REC-04's "on or before 31 December Y-6"
    count(*) filter (
        where residents.einreisedatum <= make_date(year(residents.stichtag) - 5, 12, 31)
    ) as n_resident_5_years
from residents
left join status on status.code = residents.aufenthaltsstatus
group by residents.period, residents.file_sha256, residents.ags, status.statusgruppe
