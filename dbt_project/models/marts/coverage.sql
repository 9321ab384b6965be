-- Which periods each source (file type) and each indicator has: first and last period, how
-- many, and which are missing between them. Sources from the file registry (current file
-- versions, header-only files count as present), indicators from the published
-- indicator_values. Deliberately no row counts of files: a file's row count is a district
-- figure (e.g. naturalisations of one month) that the confidentiality rule would have to cover.

-- period kind per file type: sources/contracts.yml (period_kind), through macro catalogue()
with source_kinds as (
    select * from (values
        {%- for file_type, periodicity in catalogue()['file_types'].items() %}
        ('{{ file_type }}', '{{ periodicity }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as t(file_type, periodicity)
),

subjects as (
    select 'source' as kind, file_type as subject, periodicity from source_kinds
    union all
    select 'indicator' as kind, indicator_id as subject, periodicity from {{ ref('indicators') }}
),

periods as (
    select distinct 'source' as kind, file_type as subject, period
    from {{ ref('stg_meta__file_versions') }}
    union all
    select distinct 'indicator' as kind, indicator_id as subject, period
    from {{ ref('indicator_values') }}
),

-- each period as a whole number that counts up by one per period: months since year 0 for
-- 'YYYY-MM', else the (first) year of 'YYYY' and 'YYYY/YY'
stepped as (
    select
        s.kind,
        s.subject,
        s.periodicity,
        p.period,
        case
            when s.periodicity = 'monat' then {{ month_index('p.period') }}
            else {{ period_year('p.period') }}
        end as step
    from subjects as s
    inner join periods as p on s.kind = p.kind and s.subject = p.subject
),

ranges as (
    select
        kind,
        subject,
        periodicity,
        arg_min(period, step) as first_period,
        arg_max(period, step) as last_period,
        min(step) as first_step,
        max(step) as last_step,
        count(*) as period_count
    from stepped
    group by kind, subject, periodicity
),

expected as (
    select kind, subject, periodicity, unnest(range(first_step, last_step + 1)) as step
    from ranges
),

missing as (
    select
        e.kind,
        e.subject,
        e.step,
        case
            when e.periodicity = 'monat'
                then printf('%04d-%02d', e.step // 12, e.step % 12 + 1)
            -- indicators publish school years as 'YYYY/YY', files are named by the first year
            when e.periodicity = 'schuljahr' and e.kind = 'indicator'
                then {{ school_year_label('cast(e.step as varchar)') }}
            else cast(e.step as varchar)
        end as period
    from expected as e
    anti join stepped as s on e.kind = s.kind and e.subject = s.subject and e.step = s.step
),

missing_lists as (
    select
        kind,
        subject,
        count(*) as missing_period_count,
        string_agg(period, ', ' order by step) as missing_periods
    from missing
    group by kind, subject
)

select
    s.kind,
    s.subject,
    s.periodicity,
    r.first_period,
    r.last_period,
    cast(coalesce(r.period_count, 0) as bigint) as period_count,
    cast(coalesce(r.last_step - r.first_step + 1, 0) as bigint) as expected_period_count,
    cast(coalesce(m.missing_period_count, 0) as bigint) as missing_period_count,
    m.missing_periods
from subjects as s
left join ranges as r on s.kind = r.kind and s.subject = r.subject
left join missing_lists as m on s.kind = m.kind and s.subject = m.subject
order by s.kind desc, s.subject
