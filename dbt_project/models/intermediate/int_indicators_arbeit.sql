-- Arbeit: ARB-01 .. ARB-04 per published month, municipality and group (indicators.md).
-- Sparse: one row per cell that has something to count; the grid fills the rest with 0.

with counts as (
    select * from {{ ref('int_jobcenter_recipients_aggregated') }}
),

published_periods as (
    select indicator_id, period, {{ month_index('period') }} as month_index
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'ARB-%'
),

population as (
    select * from {{ ref('stg_bevoelkerung__population_counts') }}
),

-- the counts the indicators need, per group: every aggregate cell counts for `insgesamt`,
-- for its nationality group and, with fluchtkontext = J, for `fluchtkontext`
counts_by_group as (
    select
        counts.period,
        {{ month_index('counts.period') }} as month_index,
        counts.ags,
        grp.group_code,
        coalesce(sum(counts.n_persons) filter (where counts.under_65), 0) as n_under_65,
        coalesce(sum(counts.n_persons) filter (where counts.elb), 0) as n_elb,
        coalesce(sum(counts.n_persons) filter (where counts.elb and counts.integration_beschaeftigung), 0) as n_elb_integration_beschaeftigung,
        coalesce(sum(counts.n_persons) filter (where counts.elb and counts.erwerbstaetig), 0) as n_elb_erwerbstaetig
    from counts
    cross join lateral (
        select unnest(
            ['insgesamt', counts.nationality_group]
            || case when counts.fluchtkontext then ['fluchtkontext'] else [] end
        ) as group_code
    ) as grp
    group by all
),

-- ARB-01 numerator: recipients aged <= 64 in month m
arb_01_numerator as (
    select
        'ARB-01' as indicator_id, period, ags, group_code,
        n_under_65 as numerator, 0 as denominator, 0 as denominator_count
    from counts_by_group
    where group_code in ('insgesamt', 'deutsch', 'auslaendisch')
),

-- ARB-01 denominator: residents under 65 on 31 December of the year before m
arb_01_denominator as (
    select
        'ARB-01' as indicator_id, months.period, population.ags, grp.group_code,
        0 as numerator, sum(population.anzahl) as denominator, sum(population.anzahl) as denominator_count
    from published_periods as months
    inner join population
        on population.period = cast({{ period_year('months.period') }} - 1 as varchar)
    cross join lateral (
        select unnest(['insgesamt', population.staatsangehoerigkeit]) as group_code
    ) as grp
    where months.indicator_id = 'ARB-01'
        and population.altersgruppe <> '65+'
    group by all
),

-- ARB-02: elb = J
arb_02 as (
    select
        'ARB-02' as indicator_id, period, ags, group_code,
        n_elb as numerator, null as denominator, null as denominator_count
    from counts_by_group
),

-- ARB-03: integrations over the 12 months m-11 .. m; the denominator is the average
-- elb stock (12-month sum / 12), the rule of confidentiality looks at the sum itself
arb_03 as (
    select
        'ARB-03' as indicator_id, months.period, cells.ags, cells.group_code,
        sum(cells.n_elb_integration_beschaeftigung) as numerator,
        -- the 12-month sum here; int_indicator_values_unsuppressed divides by 12 after summing
        -- regions, so the district's average is exact and independent of summation order
        sum(cells.n_elb) as denominator,
        sum(cells.n_elb) as denominator_count
    from published_periods as months
    inner join counts_by_group as cells
        on cells.month_index between months.month_index - 11 and months.month_index
    where months.indicator_id = 'ARB-03'
    group by all
),

-- ARB-04: erwerbstaetig among elb
arb_04 as (
    select
        'ARB-04' as indicator_id, period, ags, group_code,
        n_elb_erwerbstaetig as numerator, n_elb as denominator, n_elb as denominator_count
    from counts_by_group
),

facts as (
    select * from arb_01_numerator
    union all by name select * from arb_01_denominator
    union all by name select * from arb_02
    union all by name select * from arb_03
    union all by name select * from arb_04
)

{{ collapse_indicator_facts() }}
