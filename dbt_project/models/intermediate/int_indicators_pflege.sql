-- Pflege: PFL-01, PFL-02 per published calendar year, municipality (residence before care)
-- and group (indicators.md). Sparse: the grid fills cells without rows with 0.

with counts as (
    select * from {{ ref('int_care_assistance_aggregated') }}
),

population as (
    select * from {{ ref('stg_bevoelkerung__population_counts') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'PFL-%'
),

-- every recipient counts for `insgesamt` and for its nationality group
counts_by_group as (
    select
        counts.period, counts.ags, grp.group_code,
        sum(counts.n_persons) as n_persons,
        coalesce(sum(counts.n_persons) filter (where counts.aged_65_plus), 0) as n_65_plus,
        coalesce(sum(counts.n_persons) filter (where counts.leistungsort = 'stationaer'), 0) as n_stationaer
    from counts
    cross join lateral (
        select unnest(['insgesamt', counts.nationality_group]) as group_code
    ) as grp
    group by all
),

-- PFL-01 numerator: recipients aged 65 or more (per 1,000: int_indicator_values_unsuppressed)
pfl_01_numerator as (
    select
        'PFL-01' as indicator_id, period, ags, group_code,
        n_65_plus as numerator, 0 as denominator, 0 as denominator_count
    from counts_by_group
),

-- PFL-01 denominator: residents 65+ on 31 December of the same year Y, by the population
-- file's nationality group
pfl_01_denominator as (
    select
        'PFL-01' as indicator_id, population.period, population.ags, grp.group_code,
        0 as numerator, sum(population.anzahl) as denominator, sum(population.anzahl) as denominator_count
    from population
    cross join lateral (
        select unnest(['insgesamt', population.staatsangehoerigkeit]) as group_code
    ) as grp
    where population.altersgruppe = '65+'
    group by all
),

-- PFL-02: recipients in care homes among all recipients
pfl_02 as (
    select
        'PFL-02' as indicator_id, period, ags, group_code,
        n_stationaer as numerator, n_persons as denominator, n_persons as denominator_count
    from counts_by_group
),

facts as (
    select * from pfl_01_numerator
    union all by name select * from pfl_01_denominator
    union all by name select * from pfl_02
)

{{ collapse_indicator_facts() }}
