-- Reported in Dagster as a check of indicator_values (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'indicator_values'}}}) }}
-- The published grid is dense and complete: every period an indicator has data for is
-- published, with exactly one row for the district and each municipality x every group
-- the indicator lists. Returns what is missing and what is extra.

with expected as (
    select periods.indicator_id, periods.period, regions.region_code, groups.group_code
    from {{ ref('int_indicator_periods') }} as periods
    inner join {{ ref('indicator_groups') }} as groups on groups.indicator_id = periods.indicator_id
    cross join (
        select '08116' as region_code
        union all
        select ags from {{ ref('gemeinden') }}
    ) as regions
),

published as (
    select indicator_id, period, region_code, group_code
    from {{ ref('indicator_values') }}
)

select 'missing' as problem, * from (select * from expected except all select * from published)
union all
select 'extra' as problem, * from (select * from published except all select * from expected)
