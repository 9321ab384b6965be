-- The published indicator set (warehouse.md): all indicators on the dense grid with the
-- rule of confidentiality of indicators.md applied. Aggregates only.
--   count: suppressed when its value is 1 or 2;
--   rate:  suppressed when its numerator or the count behind its denominator is 1 or 2
--          (ARB-03: the 12-month sum of stocks, not the average);
--   suppressed: numerator, denominator and value NULL. A 0 is shown.

with unsuppressed as (
    select * from {{ ref('int_indicator_values_unsuppressed') }}
),

flagged as (
    select
        *,
        -- anzahl_gemeinden counts no people, an undefined cell has no figure: never suppressed
        coalesce(
            unit <> 'anzahl_gemeinden' and not is_undefined and (
                numerator in (1, 2)
                or (unit in ('prozent', 'je_100', 'je_1000') and denominator_count in (1, 2))
            ),
            false
        ) as is_suppressed
    from unsuppressed
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
