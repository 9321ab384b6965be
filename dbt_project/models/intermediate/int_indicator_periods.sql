-- The periods each indicator is published for: those whose input files are all present
-- (indicators.md, per indicator). Built from the file registry, never from whether rows
-- exist: a header-only naturalisation file is a present month with 0 naturalisations.

with files as (
    select file_type, period from {{ ref('int_file_periods') }}
),

months as (
    select
        file_type,
        period,
        {{ period_year('period') }} as year,
        {{ month_index('period') }} as month_index
    from files
    where file_type in ('jobcenter', 'abh_bestand', 'abh_einbuergerungen', 'unterbringung')
),

jobcenter_months as (
    select * from months where file_type = 'jobcenter'
),

population_years as (
    select cast(period as integer) as year from files where file_type = 'bevoelkerung'
),

-- months m whose 12-month window m-11 .. m is complete
jobcenter_full_windows as (
    select m.period
    from jobcenter_months as m
    inner join jobcenter_months as w
        on w.month_index between m.month_index - 11 and m.month_index
    group by m.period
    having count(*) = 12
),

-- calendar years with all twelve naturalisation files
naturalisation_years as (
    select year
    from months
    where file_type = 'abh_einbuergerungen'
    group by year
    having count(*) = 12
),

december_snapshots as (
    select year from months where file_type = 'abh_bestand' and period = cast(year as varchar) || '-12'
),

available as (
    -- ARB-01 needs the population file of the previous year
    select 'ARB-01' as indicator_id, period
    from jobcenter_months
    where year - 1 in (select year from population_years)

    union all
    select unnest(['ARB-02', 'ARB-04', 'SPR-01', 'SPR-02']) as indicator_id, period
    from jobcenter_months

    union all
    select 'ARB-03' as indicator_id, period from jobcenter_full_windows

    union all
    select unnest(['REC-01', 'REC-02']) as indicator_id, period
    from months where file_type = 'abh_bestand'

    union all
    select 'REC-03' as indicator_id, cast(year as varchar) as period from naturalisation_years

    -- REC-04 also needs the December snapshot of the year before
    union all
    select 'REC-04' as indicator_id, cast(year as varchar) as period
    from naturalisation_years
    where year - 1 in (select year from december_snapshots)

    union all
    select unnest(['BIL-01', 'BIL-02']) as indicator_id, {{ school_year_label('period') }} as period
    from files where file_type = 'schulstatistik'

    union all
    select 'BIL-03' as indicator_id, {{ school_year_label('period') }} as period
    from files where file_type = 'schulabgaenger'

    union all
    select unnest(['WOH-01', 'WOH-02', 'WOH-03']) as indicator_id, period
    from months where file_type = 'unterbringung'

    union all
    select 'DEM-01' as indicator_id, period from files where file_type = 'bevoelkerung'
)

select
    indicator_id,
    period,
    {{ period_end('period') }} as period_end
from available
