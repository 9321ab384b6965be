-- Gesundheit: GES-01 .. GES-03 per published examination year `YYYY/YY`, municipality of
-- residence and group (indicators.md). Sparse: the grid fills cells without rows with 0.

with counts as (
    select * from {{ ref('int_school_entry_examinations_aggregated') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'GES-%'
),

-- every child counts for `insgesamt`, its nationality group and, where the family language
-- is known, its language group (an empty family language: insgesamt and nationality only)
counts_by_group as (
    select
        {{ school_year_label('counts.period') }} as period,
        counts.ags,
        grp.group_code,
        coalesce(sum(counts.n_children) filter (where counts.vorsorgeheft), 0) as n_vorsorgeheft,
        coalesce(sum(counts.n_children) filter (where counts.vorsorgeheft and counts.u8), 0) as n_vorsorgeheft_u8,
        coalesce(sum(counts.n_children) filter (where counts.impfpass), 0) as n_impfpass,
        coalesce(sum(counts.n_children) filter (where counts.impfpass and counts.masern_impfungen = 2), 0) as n_impfpass_masern_2,
        coalesce(sum(counts.n_children) filter (
            where counts.sprachbefund in ('unauffaellig', 'foerderbedarf', 'intensiv')
        ), 0) as n_sprache_getestet,
        coalesce(sum(counts.n_children) filter (where counts.sprachbefund = 'intensiv'), 0) as n_sprache_intensiv
    from counts
    cross join lateral (
        select unnest(
            ['insgesamt', counts.nationality_group]
            || case when counts.language_group is not null then [counts.language_group] else [] end
        ) as group_code
    ) as grp
    group by all
),

-- GES-01: U8 documented among children whose check-up booklet was shown
ges_01 as (
    select
        'GES-01' as indicator_id, period, ags, group_code,
        n_vorsorgeheft_u8 as numerator, n_vorsorgeheft as denominator, n_vorsorgeheft as denominator_count
    from counts_by_group
),

-- GES-02: two measles vaccinations among children whose vaccination record was shown
ges_02 as (
    select
        'GES-02' as indicator_id, period, ags, group_code,
        n_impfpass_masern_2 as numerator, n_impfpass as denominator, n_impfpass as denominator_count
    from counts_by_group
),

-- GES-03: intensive need of language support among screened children
ges_03 as (
    select
        'GES-03' as indicator_id, period, ags, group_code,
        n_sprache_intensiv as numerator, n_sprache_getestet as denominator, n_sprache_getestet as denominator_count
    from counts_by_group
),

facts as (
    select * from ges_01
    union all by name select * from ges_02
    union all by name select * from ges_03
)

{{ collapse_indicator_facts() }}
