-- Bildung: BIL-01 .. BIL-03 per published school year, municipality (where the school
-- stands) and group (indicators.md). Sparse: the grid fills cells without rows with 0.

with pupils as (
    select
        {{ school_year_label('period') }} as period,
        ags, schulart, klassenstufe, staatsangehoerigkeit, schueler
    from {{ ref('stg_schulen__pupil_counts') }}
),

leavers as (
    select
        {{ school_year_label('period') }} as period,
        ags, abschluss, staatsangehoerigkeit, anzahl
    from {{ ref('stg_schulen__leaver_counts') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'BIL-%'
),

-- BIL-01: Gymnasium among the lower-secondary school types, grades 5 to 10
bil_01 as (
    select
        'BIL-01' as indicator_id, pupils.period, pupils.ags, grp.group_code,
        coalesce(sum(pupils.schueler) filter (where pupils.schulart = 'GY'), 0) as numerator,
        sum(pupils.schueler) as denominator,
        sum(pupils.schueler) as denominator_count
    from pupils
    cross join lateral (
        select unnest(['insgesamt', pupils.staatsangehoerigkeit]) as group_code
    ) as grp
    where pupils.klassenstufe in ('5', '6', '7', '8', '9', '10')
        and pupils.schulart in ('WRS', 'RS', 'GMS', 'GY', 'SBBZ')
    group by all
),

-- BIL-02: pupils in preparatory classes (VKL) and the preparatory year (VABO)
bil_02 as (
    select
        'BIL-02' as indicator_id, period, ags, 'insgesamt' as group_code,
        sum(schueler) as numerator, null as denominator, null as denominator_count
    from pupils
    where klassenstufe in ('VKL', 'VABO')
    group by all
),

-- BIL-03: leavers without a lower-secondary certificate among all leavers
bil_03 as (
    select
        'BIL-03' as indicator_id, leavers.period, leavers.ags, grp.group_code,
        coalesce(sum(leavers.anzahl) filter (where leavers.abschluss = 'ohne_hsa'), 0) as numerator,
        sum(leavers.anzahl) as denominator,
        sum(leavers.anzahl) as denominator_count
    from leavers
    cross join lateral (
        select unnest(['insgesamt', leavers.staatsangehoerigkeit]) as group_code
    ) as grp
    group by all
),

facts as (
    select * from bil_01
    union all by name select * from bil_02
    union all by name select * from bil_03
)

{{ collapse_indicator_facts() }}
