-- Reported in Dagster as a check of indicator_values (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'indicator_values'}}}) }}
-- Both rules of confidentiality hold in the published set (indicators.md), checked on
-- marts.indicator_values itself, not on the model that decides the suppression:
--   primary:   every cell whose count is 1 or 2, or (rates) whose numerator or the count
--              behind its denominator is 1 or 2, is suppressed; anzahl_gemeinden and undefined
--              cells (ENG-02 without answer) never are;
--   secondary: no line (regional: district + municipalities per group; group: insgesamt +
--              a partition per region, seed indicator_groups) has exactly one suppressed cell,
--              its total or one part (amended 2026-12-07), except a suppressed total whose
--              parts are all shown with no figure > 0 (the spec's remark: nothing to choose);
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
        -- the figure of indicators.md: the count, or for rates the count behind the denominator
        case when internal.unit in ('anzahl', 'anzahl_gemeinden') then internal.numerator
            else internal.denominator_count end as figure,
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
        count(*) filter (where region_code <> '08116' and not is_suppressed and figure > 0) as parts_above_0,
        bool_or(region_code = '08116' and is_suppressed) as total_suppressed,
        bool_or(region_code = '08116') as has_total
    from joined
    where unit <> 'anzahl_gemeinden'
    group by indicator_id, period, group_code
),

group_lines as (
    select
        joined.indicator_id, joined.period, joined.region_code, groups.partition_id,
        count(*) filter (where joined.is_suppressed) as suppressed_parts,
        count(*) filter (where not joined.is_suppressed and joined.figure > 0) as parts_above_0
    from joined
    inner join groups
        on groups.indicator_id = joined.indicator_id
        and groups.group_code = joined.group_code
    where groups.partition_id is not null and joined.unit <> 'anzahl_gemeinden'
    group by joined.indicator_id, joined.period, joined.region_code, groups.partition_id
),

group_lines_with_total as (
    select group_lines.*, total.group_code as total_group, total.is_suppressed as total_suppressed
    from group_lines
    inner join published as total
        on total.indicator_id = group_lines.indicator_id
        and total.period = group_lines.period
        and total.region_code = group_lines.region_code
        and total.group_code = 'insgesamt'
),

line_problems as (
    select indicator_id, period, '08116' as region_code, group_code,
        case when total_suppressed then 'regional line whose only suppressed cell is its total'
            else 'regional line with exactly one suppressed part beside a shown total' end as problem
    from regional_lines
    where has_total and (
        (not total_suppressed and suppressed_parts = 1)
        or (total_suppressed and suppressed_parts = 0 and parts_above_0 > 0)
    )
    union all
    select indicator_id, period, region_code, total_group,
        'group line (partition ' || partition_id || ') with exactly one suppressed cell'
        || case when total_suppressed then ', its total' else ', a part' end
    from group_lines_with_total
    where (not total_suppressed and suppressed_parts = 1)
        or (total_suppressed and suppressed_parts = 0 and parts_above_0 > 0)
)

select * from cell_problems
union all
select * from line_problems
