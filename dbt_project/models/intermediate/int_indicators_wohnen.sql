-- Wohnen: WOH-01 .. WOH-03 per published month, municipality and group (indicators.md).
-- Sparse: the grid fills cells without rows with 0.

with facilities as (
    select * from {{ ref('stg_wohnen__facilities') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id like 'WOH-%'
),

-- every facility counts for `insgesamt` and for its stage (`VU` or `AU`)
facilities_by_group as (
    select
        facilities.period, facilities.ags, grp.group_code,
        sum(facilities.plaetze) as plaetze,
        sum(facilities.belegt) as belegt,
        sum(facilities.davon_schutzstatus) as davon_schutzstatus,
        sum(facilities.auszuege_privat) as auszuege_privat
    from facilities
    cross join lateral (
        select unnest(['insgesamt', facilities.art]) as group_code
    ) as grp
    group by all
),

-- WOH-01: occupancy, residents over places (over 100 % is possible: over-occupancy)
woh_01 as (
    select
        'WOH-01' as indicator_id, period, ags, group_code,
        belegt as numerator, plaetze as denominator, plaetze as denominator_count
    from facilities_by_group
),

-- WOH-02: granted protection among residents of provisional accommodation
woh_02 as (
    select
        'WOH-02' as indicator_id, period, ags, group_code,
        davon_schutzstatus as numerator, belegt as denominator, belegt as denominator_count
    from facilities_by_group
    where group_code = 'VU'
),

-- WOH-03: moves into private housing during the month
woh_03 as (
    select
        'WOH-03' as indicator_id, period, ags, group_code,
        auszuege_privat as numerator, null as denominator, null as denominator_count
    from facilities_by_group
),

facts as (
    select * from woh_01
    union all by name select * from woh_02
    union all by name select * from woh_03
)

{{ collapse_indicator_facts() }}
