-- Sprache: SPR-01, SPR-02 per published month and municipality, group `fluchtkontext` only
-- (indicators.md). Sparse: the grid fills cells without rows with 0.

with counts as (
    select * from {{ ref('int_jobcenter_recipients_aggregated') }}
),

-- both indicators look only at elb = J and fluchtkontext = J
course_counts as (
    select
        period,
        ags,
        sum(n_persons) as n_elb,
        coalesce(sum(n_persons) filter (
            where integrationskurs in ('laufend', 'abgeschlossen_b1', 'abgeschlossen_unter_b1')
        ), 0) as n_elb_kurs_beteiligt,
        coalesce(sum(n_persons) filter (
            where integrationskurs in ('abgeschlossen_b1', 'abgeschlossen_unter_b1')
        ), 0) as n_elb_kurs_abgeschlossen,
        coalesce(sum(n_persons) filter (where integrationskurs = 'abgeschlossen_b1'), 0) as n_elb_kurs_b1
    from counts
    where elb and fluchtkontext
    group by all
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'SPR-%'
),

-- SPR-01: B1 among those who finished a course (with or without B1)
spr_01 as (
    select
        'SPR-01' as indicator_id, period, ags, 'fluchtkontext' as group_code,
        sum(n_elb_kurs_b1) as numerator,
        sum(n_elb_kurs_abgeschlossen) as denominator,
        sum(n_elb_kurs_abgeschlossen) as denominator_count
    from course_counts
    group by all
),

-- SPR-02: course running or finished among all (an unknown course status counts here)
spr_02 as (
    select
        'SPR-02' as indicator_id, period, ags, 'fluchtkontext' as group_code,
        sum(n_elb_kurs_beteiligt) as numerator,
        sum(n_elb) as denominator,
        sum(n_elb) as denominator_count
    from course_counts
    group by all
),

facts as (
    select * from spr_01
    union all by name select * from spr_02
)

{{ collapse_indicator_facts() }}
