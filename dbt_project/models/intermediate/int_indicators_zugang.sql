-- Zugang zu Regelangeboten: REG-01 (examination year, residence), REG-02 and REG-03 (calendar
-- year, where the Kita stands) per published period, municipality and group (indicators.md).
-- Sparse: the grid fills cells without rows with 0.

with examinations as (
    select * from {{ ref('int_school_entry_examinations_aggregated') }}
),

day_care as (
    select * from {{ ref('stg_jugendamt__day_care_counts') }}
),

population as (
    select * from {{ ref('stg_bevoelkerung__population_counts') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'REG-%'
),

-- REG-01: less than 24 months in day care among children whose time in day care is known;
-- groups as GES-01 (an empty family language: insgesamt and nationality group only)
reg_01 as (
    select
        'REG-01' as indicator_id,
        {{ school_year_label('examinations.period') }} as period,
        examinations.ags,
        grp.group_code,
        coalesce(sum(examinations.n_children) filter (where examinations.kita_monate < 24), 0) as numerator,
        coalesce(sum(examinations.n_children) filter (where examinations.kita_monate is not null), 0) as denominator,
        coalesce(sum(examinations.n_children) filter (where examinations.kita_monate is not null), 0) as denominator_count
    from examinations
    cross join lateral (
        select unnest(
            ['insgesamt', examinations.nationality_group]
            || case when examinations.language_group is not null then [examinations.language_group] else [] end
        ) as group_code
    ) as grp
    group by all
),

-- REG-02: children of foreign origin among all children in day care, by age group
reg_02 as (
    select
        'REG-02' as indicator_id, day_care.period, day_care.ags, grp.group_code,
        coalesce(sum(day_care.kinder) filter (where day_care.herkunft = 'auslaendisch'), 0) as numerator,
        sum(day_care.kinder) as denominator,
        sum(day_care.kinder) as denominator_count
    from day_care
    cross join lateral (
        select unnest(['insgesamt', day_care.altersgruppe]) as group_code
    ) as grp
    group by all
),

-- REG-03 numerator: all children in day care on 1 March of Y, where they are cared for
reg_03_numerator as (
    select
        'REG-03' as indicator_id, period, ags, 'insgesamt' as group_code,
        sum(kinder) as numerator, 0 as denominator, 0 as denominator_count
    from day_care
    group by all
),

-- REG-03 denominator: residents aged 0 to 5 on 31 December of Y-1, where they live
reg_03_denominator as (
    select
        'REG-03' as indicator_id, years.period, population.ags, 'insgesamt' as group_code,
        0 as numerator, sum(population.anzahl) as denominator, sum(population.anzahl) as denominator_count
    from published_periods as years
    inner join population
        on population.period = cast({{ period_year('years.period') }} - 1 as varchar)
    where years.indicator_id = 'REG-03'
        and population.altersgruppe = '00-05'
    group by all
),

facts as (
    select * from reg_01
    union all by name select * from reg_02
    union all by name select * from reg_03_numerator
    union all by name select * from reg_03_denominator
)

{{ collapse_indicator_facts() }}
