-- Bürgerschaftliches Engagement: ENG-01, ENG-02 per published calendar year and responding
-- municipality, group `insgesamt` (indicators.md). Sparse: the grid fills cells without rows
-- with 0. A municipality that left `ehrenamtliche` empty gets one ENG-02 row with
-- is_undefined = true (NULL figures, in no district sum, never suppressed).

with survey as (
    select * from {{ ref('stg_integration__municipal_survey') }}
),

facilities as (
    select * from {{ ref('stg_wohnen__facilities') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'ENG-%'
),

-- ENG-01: a municipality counts 1 with an integration council or committee (no people:
-- never suppressed, unit anzahl_gemeinden)
eng_01 as (
    select
        'ENG-01' as indicator_id, period, ags, 'insgesamt' as group_code,
        count(*) filter (where integrationsgremium in ('rat', 'ausschuss')) as numerator,
        null as denominator, null as denominator_count
    from survey
    group by all
),

-- people in follow-up accommodation (AU) on 31 December of Y, per municipality
au_december as (
    select substr(period, 1, 4) as period, ags, sum(belegt) as belegt
    from facilities
    where art = 'AU' and substr(period, 6, 2) = '12'
    group by all
),

-- ENG-02: volunteers per 100 people in AU; only answering municipalities count, in the
-- numerator and in the denominator (per 100: int_indicator_values_unsuppressed)
eng_02 as (
    select
        'ENG-02' as indicator_id, survey.period, survey.ags, 'insgesamt' as group_code,
        survey.ehrenamtliche as numerator,
        coalesce(au_december.belegt, 0) as denominator,
        coalesce(au_december.belegt, 0) as denominator_count
    from survey
    left join au_december on au_december.period = survey.period and au_december.ags = survey.ags
    where survey.ehrenamtliche is not null
),

facts as (
    select * from eng_01
    union all by name select * from eng_02
),

defined as (
    {{ collapse_indicator_facts() }}
),

-- ENG-02 of the municipalities that did not answer, in published years only
undefined as (
    select
        'ENG-02' as indicator_id, survey.period, survey.ags, 'insgesamt' as group_code,
        cast(null as hugeint) as numerator, cast(null as hugeint) as denominator,
        cast(null as hugeint) as denominator_count, true as is_undefined
    from survey
    inner join published_periods
        on published_periods.indicator_id = 'ENG-02' and published_periods.period = survey.period
    where survey.ehrenamtliche is null
)

select *, false as is_undefined from defined
union all by name
select * from undefined
