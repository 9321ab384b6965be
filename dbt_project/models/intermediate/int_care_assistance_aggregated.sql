{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('hilfe_zur_pflege') }}"
    )
}}
-- Recipients of long-term care assistance on 31 December per year, municipality (residence
-- before care) and nationality group: the counts PFL-01 and PFL-02 need.
-- Incremental: only the periods listed for hilfe_zur_pflege in meta.changed_periods are (re)aggregated.

with recipients as (
    select * from {{ ref('stg_sozialamt__care_assistance_recipients') }}
    where {{ changed_periods_filter('hilfe_zur_pflege') }}
)

select
    period,
    file_sha256,
    ags,
    case when staatsangehoerigkeit = '000' then 'deutsch' else 'auslaendisch' end as nationality_group,
    count(*) as n_persons,
    -- age as sources.md defines it: year of the file (31 December) minus year of birth
    count(*) filter (where {{ period_year('period') }} - geburtsjahr >= 65) as n_65_plus,
    count(*) filter (where leistungsort = 'stationaer') as n_stationaer
from recipients
group by all
