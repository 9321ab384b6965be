-- All indicators on the dense grid: every published period x the district and each of the
-- 44 municipalities x every group the indicator lists, also where the count is 0.
-- Not suppressed: internal only, so that checks can verify additivity and the rule of
-- confidentiality applied in marts.indicator_values.
-- value by unit (indicators.md): anzahl, anzahl_gemeinden = numerator (no denominator);
-- prozent, je_100 = 100 * numerator / denominator; je_1000 = 1000 * numerator / denominator;
-- NULL where the denominator is 0. A cell marked undefined by its formula (ENG-02: a
-- municipality that did not answer) has numerator, denominator and value NULL, is_undefined
-- true, and counts in no district sum.

with facts as (
    select * from {{ ref('int_indicator_facts') }}
),

catalogue as (
    select indicator_id, unit from {{ ref('indicator_catalogue') }}
),

indicator_groups as (
    select indicator_id, group_code from {{ ref('indicator_groups') }}
),

regions as (
    select '08116' as region_code, 'Landkreis Esslingen' as region_name
    union all
    select ags as region_code, name as region_name from {{ ref('gemeinden') }}
),

grid as (
    select
        periods.indicator_id,
        periods.period,
        periods.period_end,
        regions.region_code,
        regions.region_name,
        indicator_groups.group_code,
        catalogue.unit,
        catalogue.unit in ('prozent', 'je_100', 'je_1000') as is_rate
    from {{ ref('int_indicator_periods') }} as periods
    inner join catalogue on catalogue.indicator_id = periods.indicator_id
    inner join indicator_groups on indicator_groups.indicator_id = periods.indicator_id
    cross join regions
),

-- municipalities from their own rows, the district from all defined rows (never from rates)
region_sums as (
    select
        indicator_id, period, ags as region_code, group_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(denominator_count) as denominator_count,
        bool_or(is_undefined) as is_undefined
    from facts
    group by indicator_id, period, ags, group_code

    union all
    select
        indicator_id, period, '08116' as region_code, group_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(denominator_count) as denominator_count,
        false as is_undefined
    from facts
    where not is_undefined
    group by indicator_id, period, group_code
),

-- ARB-03's denominator is the average stock: its 12-month sum divided by 12 only here,
-- after all sums, so the figure is exact and the same whatever order rows were added in
region_facts as (
    select
        indicator_id, period, region_code, group_code, numerator,
        case when indicator_id = 'ARB-03' then denominator / 12.0 else denominator end as denominator,
        denominator_count,
        is_undefined
    from region_sums
),

filled as (
    select
        grid.*,
        coalesce(region_facts.is_undefined, false) as is_undefined,
        case when not coalesce(region_facts.is_undefined, false)
            then cast(coalesce(region_facts.numerator, 0) as double) end as numerator,
        case when grid.is_rate and not coalesce(region_facts.is_undefined, false)
            then cast(coalesce(region_facts.denominator, 0) as double) end as denominator,
        case when grid.is_rate and not coalesce(region_facts.is_undefined, false)
            then cast(coalesce(region_facts.denominator_count, 0) as bigint) end as denominator_count
    from grid
    left join region_facts
        on region_facts.indicator_id = grid.indicator_id
        and region_facts.period = grid.period
        and region_facts.region_code = grid.region_code
        and region_facts.group_code = grid.group_code
)

select
    indicator_id,
    period,
    period_end,
    region_code,
    region_name,
    group_code,
    numerator,
    denominator,
    denominator_count,
    case
        when not is_rate then numerator
        when denominator = 0 then null
        when unit = 'je_1000' then 1000 * numerator / denominator
        else 100 * numerator / denominator
    end as value,
    unit,
    is_undefined
from filled
