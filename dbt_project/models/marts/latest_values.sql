-- The current state at a glance: per indicator, region and group the row of the latest period
-- that indicator is published for (the same period for all its regions and groups, also where
-- that row is suppressed). A table, not a view: the publisher attaches the internal warehouse
-- under another catalog name, which a dbt view (fully qualified references) would not survive.
with indicator_values as (
    select * from {{ ref('indicator_values') }}
),

latest_period as (
    select indicator_id, max(period_end) as period_end
    from indicator_values
    group by indicator_id
)

select
    v.indicator_id,
    c.name_de,
    c.handlungsfeld,
    v.period,
    v.period_end,
    v.region_code,
    v.region_name,
    v.group_code,
    v.numerator,
    v.denominator,
    v.value,
    v.unit,
    v.is_suppressed
from indicator_values as v
inner join latest_period as l
    on v.indicator_id = l.indicator_id and v.period_end = l.period_end
inner join {{ ref('indicators') }} as c
    on v.indicator_id = c.indicator_id
order by v.indicator_id, v.region_code, v.group_code
