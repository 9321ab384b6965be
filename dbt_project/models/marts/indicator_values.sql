-- The published indicator set (warehouse.md): all indicators on the dense grid with both rules
-- of confidentiality of indicators.md applied. Aggregates only. Which cells are suppressed
-- (primary rule, then the rounds of the secondary rule) is decided in
-- int_indicator_suppression; a suppressed cell shows NULL numerator, denominator and value.
-- A 0 is shown.

with unsuppressed as (
    select * from {{ ref('int_indicator_values_unsuppressed') }}
),

suppression as (
    select indicator_id, period, region_code, group_code, is_suppressed
    from {{ ref('int_indicator_suppression') }}
),

flagged as (
    select
        unsuppressed.*,
        suppression.is_suppressed
    from unsuppressed
    inner join suppression
        on suppression.indicator_id = unsuppressed.indicator_id
        and suppression.period = unsuppressed.period
        and suppression.region_code = unsuppressed.region_code
        and suppression.group_code = unsuppressed.group_code
)

select
    indicator_id,
    period,
    period_end,
    region_code,
    region_name,
    group_code,
    case when not is_suppressed then numerator end as numerator,
    case when not is_suppressed then denominator end as denominator,
    case when not is_suppressed then value end as value,
    unit,
    is_suppressed
from flagged
