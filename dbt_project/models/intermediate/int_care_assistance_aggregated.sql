{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('hilfe_zur_pflege') }}"
    )
}}
-- Recipients of long-term care assistance on 31 December per year and municipality (residence
-- before care), counted per combination of the attributes PFL-01/02 filter and group by
-- (nationality group, aged 65+, leistungsort, pflegegrad): a new indicator over them needs no
-- change here.
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
    -- age as sources.md defines it: year of the file (31 December) minus year of birth
    {{ period_year('period') }} - geburtsjahr >= 65 as aged_65_plus,
    leistungsort,
    pflegegrad,
    count(*) as n_persons
from recipients
group by all
