-- Demografie: DEM-01 per published year and municipality, group `insgesamt` (indicators.md).
-- Sparse: the grid fills cells without rows with 0.

with population as (
    select * from {{ ref('stg_bevoelkerung__population_counts') }}
),

published_periods as (
    select indicator_id, period
    from {{ ref('int_indicator_periods') }}
    where indicator_id = 'DEM-01'
),

-- DEM-01: foreign nationals among all residents on 31 December of Y
dem_01 as (
    select
        'DEM-01' as indicator_id, period, ags, 'insgesamt' as group_code,
        coalesce(sum(anzahl) filter (where staatsangehoerigkeit = 'auslaendisch'), 0) as numerator,
        sum(anzahl) as denominator,
        sum(anzahl) as denominator_count
    from population
    group by all
)

select
    dem_01.indicator_id,
    dem_01.period,
    dem_01.ags,
    dem_01.group_code,
    dem_01.numerator,
    dem_01.denominator,
    dem_01.denominator_count
from dem_01
inner join published_periods
    on published_periods.indicator_id = dem_01.indicator_id
    and published_periods.period = dem_01.period
-- cells that add nothing are left out; the dense grid fills them with 0
where dem_01.numerator <> 0 or dem_01.denominator_count <> 0
