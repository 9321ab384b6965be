-- Reported in Dagster as a check of indicator_values (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'indicator_values'}}}) }}
-- The rule of confidentiality is applied exactly (indicators.md): a row is suppressed iff
-- its count is 1 or 2, or (rates) its numerator or the count behind its denominator is
-- 1 or 2; a suppressed row shows NULL numerator, denominator and value; every other row
-- shows the unsuppressed figures unchanged.

with joined as (
    select
        published.*,
        internal.numerator as internal_numerator,
        internal.denominator as internal_denominator,
        internal.value as internal_value,
        coalesce(internal.unit <> 'anzahl_gemeinden' and not internal.is_undefined and (
            internal.numerator in (1, 2)
            or (internal.unit in ('prozent', 'je_100', 'je_1000') and internal.denominator_count in (1, 2))
        ), false) as must_suppress
    from {{ ref('indicator_values') }} as published
    inner join {{ ref('int_indicator_values_unsuppressed') }} as internal
        on internal.indicator_id = published.indicator_id
        and internal.period = published.period
        and internal.region_code = published.region_code
        and internal.group_code = published.group_code
)

select *
from joined
where is_suppressed is distinct from must_suppress
    or (is_suppressed and (numerator is not null or denominator is not null or value is not null))
    or (not is_suppressed and (
        numerator is distinct from internal_numerator
        or denominator is distinct from internal_denominator
        or value is distinct from internal_value
    ))
