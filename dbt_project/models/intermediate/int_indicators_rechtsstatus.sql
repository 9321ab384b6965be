-- Rechtsstatus: REC-01 .. REC-04 per published period, municipality and group (indicators.md).
-- Sparse: the grid fills cells without rows with 0.

with residents as (
    select * from {{ ref('int_foreign_residents_aggregated') }}
),

naturalisations as (
    select * from {{ ref('int_naturalisations_aggregated') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'REC-%'
),

-- REC-01: foreign residents, in total and per status group
rec_01 as (
    select
        'REC-01' as indicator_id, residents.period, residents.ags, grp.group_code,
        sum(residents.n_persons) as numerator, null as denominator, null as denominator_count
    from residents
    cross join lateral (
        select unnest(['insgesamt', residents.statusgruppe]) as group_code
    ) as grp
    group by all
),

-- REC-02: unbefristet among third-country nationals (everyone but `eu`)
rec_02 as (
    select
        'REC-02' as indicator_id, period, ags, 'insgesamt' as group_code,
        coalesce(sum(n_persons) filter (where statusgruppe = 'unbefristet'), 0) as numerator,
        coalesce(sum(n_persons) filter (where statusgruppe <> 'eu'), 0) as denominator,
        coalesce(sum(n_persons) filter (where statusgruppe <> 'eu'), 0) as denominator_count
    from residents
    group by all
),

-- REC-03: naturalisations of calendar year Y (the twelve monthly files)
rec_03 as (
    select
        'REC-03' as indicator_id, substr(period, 1, 4) as period, ags, 'insgesamt' as group_code,
        sum(n_naturalisations) as numerator, null as denominator, null as denominator_count
    from naturalisations
    group by all
),

-- REC-04: naturalisations of Y among those resident >= 5 full years in December of Y-1
rec_04 as (
    select
        'REC-04' as indicator_id, period, ags, group_code,
        numerator, 0 as denominator, 0 as denominator_count
    from rec_03

    union all
    select
        'REC-04' as indicator_id,
        cast({{ period_year('period') }} + 1 as varchar) as period,
        ags,
        'insgesamt' as group_code,
        0 as numerator,
        sum(n_resident_5_years) as denominator,
        sum(n_resident_5_years) as denominator_count
    from residents
    where substr(period, 6, 2) = '12'
    group by all
),

facts as (
    select * from rec_01
    union all by name select * from rec_02
    union all by name select * from rec_03
    union all by name select * from rec_04
)

{{ collapse_indicator_facts() }}
