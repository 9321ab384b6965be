-- Reported in Dagster as a check of indicator_values (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'indicator_values'}}}) }}
-- Both rules of confidentiality hold in the published set (indicators.md), checked on
-- marts.indicator_values itself, not on the model that decides the suppression:
--   primary:   every cell whose count is 1 or 2, or (rates) whose numerator or the count
--              behind its denominator is 1 or 2, is suppressed; anzahl_gemeinden and undefined
--              cells (ENG-02 without answer) never are;
--   secondary: no line (regional: district + municipalities per group; group: insgesamt +
--              a partition per region, seed indicator_groups) has exactly one suppressed part
--              beside a shown total;
--   shape:     a suppressed row shows NULL numerator, denominator and value; every other row
--              shows the unsuppressed figures unchanged.
-- One row per violation, naming the cell (or the line's total) and the problem.

with published as (
    select * from {{ ref('indicator_values') }}
),

internal as (
    select * from {{ ref('int_indicator_values_unsuppressed') }}
),

groups as (
    select indicator_id, group_code, partition_id from {{ ref('indicator_groups') }}
),

joined as (
    select
        published.*,
        internal.numerator as internal_numerator,
        internal.denominator as internal_denominator,
        internal.value as internal_value,
        coalesce(
            internal.unit <> 'anzahl_gemeinden' and not internal.is_undefined and (
                internal.numerator in (1, 2)
                or (internal.unit not in ('anzahl', 'anzahl_gemeinden') and internal.denominator_count in (1, 2))
            ),
            false
        ) as primary_rule,
        internal.is_undefined
    from published
    inner join internal
        on internal.indicator_id = published.indicator_id
        and internal.period = published.period
        and internal.region_code = published.region_code
        and internal.group_code = published.group_code
),

cell_problems as (
    select indicator_id, period, region_code, group_code, 'primary rule not applied' as problem
    from joined
    where primary_rule and not is_suppressed
    union all
    select indicator_id, period, region_code, group_code, 'anzahl_gemeinden or undefined cell suppressed'
    from joined
    where (unit = 'anzahl_gemeinden' or is_undefined) and is_suppressed
    union all
    select indicator_id, period, region_code, group_code, 'suppressed row shows a figure'
    from joined
    where is_suppressed and (numerator is not null or denominator is not null or value is not null)
    union all
    select indicator_id, period, region_code, group_code, 'shown row differs from the unsuppressed figures'
    from joined
    where not is_suppressed and (
        numerator is distinct from internal_numerator
        or denominator is distinct from internal_denominator
        or value is distinct from internal_value
    )
),

regional_lines as (
    select
        indicator_id, period, group_code,
        count(*) filter (where region_code <> '08116' and is_suppressed) as suppressed_parts,
        bool_or(region_code = '08116' and not is_suppressed) as total_shown
    from published
    group by indicator_id, period, group_code
),

group_lines as (
    select
        published.indicator_id, published.period, published.region_code, groups.partition_id,
        count(*) filter (where published.is_suppressed) as suppressed_parts
    from published
    inner join groups
        on groups.indicator_id = published.indicator_id
        and groups.group_code = published.group_code
    where groups.partition_id is not null
    group by published.indicator_id, published.period, published.region_code, groups.partition_id
),

line_problems as (
    select indicator_id, period, '08116' as region_code, group_code,
        'regional line with exactly one suppressed part beside a shown total' as problem
    from regional_lines
    where total_shown and suppressed_parts = 1
    union all
    select group_lines.indicator_id, group_lines.period, group_lines.region_code, total.group_code,
        'group line (partition ' || group_lines.partition_id || ') with exactly one suppressed part beside a shown total'
    from group_lines
    inner join published as total
        on total.indicator_id = group_lines.indicator_id
        and total.period = group_lines.period
        and total.region_code = group_lines.region_code
        and total.group_code = 'insgesamt'
    where not total.is_suppressed and group_lines.suppressed_parts = 1
)

select * from cell_problems
union all
select * from line_problems
