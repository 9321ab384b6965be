-- Reported in Dagster as a check of int_file_periods (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'int_file_periods'}}}) }}
-- What the indicators are computed from is exactly the current file set: per file type and
-- period, the rows behind the aggregates (or staging, for the small aggregated files) come
-- from the registered file version and add up to its row count. Catches an incremental
-- build that missed a changed period (wrong or missing var changed_periods): such a build
-- would publish stale or zero figures. Header-only files (0 rows) have no rows here.

with built as (
    select 'jobcenter' as file_type, period, file_sha256, sum(n_persons) as row_count
    from {{ ref('int_jobcenter_recipients_aggregated') }} group by all
    union all
    select 'abh_bestand', period, file_sha256, sum(n_persons)
    from {{ ref('int_foreign_residents_aggregated') }} group by all
    union all
    select 'abh_einbuergerungen', period, file_sha256, sum(n_naturalisations)
    from {{ ref('int_naturalisations_aggregated') }} group by all
    union all
    select 'schulstatistik', period, file_sha256, count(*)
    from {{ ref('stg_schulen__pupil_counts') }} group by all
    union all
    select 'schulabgaenger', period, file_sha256, count(*)
    from {{ ref('stg_schulen__leaver_counts') }} group by all
    union all
    select 'unterbringung', period, file_sha256, count(*)
    from {{ ref('stg_wohnen__facilities') }} group by all
    union all
    select 'bevoelkerung', period, file_sha256, count(*)
    from {{ ref('stg_bevoelkerung__population_counts') }} group by all
    union all
    select 'esu', period, file_sha256, sum(n_children)
    from {{ ref('int_school_entry_examinations_aggregated') }} group by all
    union all
    select 'hilfe_zur_pflege', period, file_sha256, sum(n_persons)
    from {{ ref('int_care_assistance_aggregated') }} group by all
    union all
    select 'kita', period, file_sha256, count(*)
    from {{ ref('stg_jugendamt__day_care_counts') }} group by all
    union all
    select 'engagement', period, file_sha256, count(*)
    from {{ ref('stg_integration__municipal_survey') }} group by all
),

registered as (
    select file_type, period, file_sha256, row_count
    from {{ ref('int_file_periods') }}
    where row_count > 0
)

select 'built but not registered' as problem, * from (select * from built except select * from registered)
union all
select 'registered but not built' as problem, * from (select * from registered except select * from built)
