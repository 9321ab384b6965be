-- Additivity: for every indicator, period and group the district's numerator, denominator
-- and the count behind the denominator equal the sum over the 44 municipalities. Every
-- definition is a sum of rows, so this holds for all of them; it fails when rows carry
-- a municipality code outside the reference list (they count for the district only).
-- Undefined cells (ENG-02: a municipality that did not answer) are in no sum.

with municipalities as (
    select
        indicator_id, period, group_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(denominator_count) as denominator_count
    from {{ ref('int_indicator_values_unsuppressed') }}
    where region_code <> '08116' and not is_undefined
    group by indicator_id, period, group_code
),

district as (
    select indicator_id, period, group_code, numerator, denominator, denominator_count
    from {{ ref('int_indicator_values_unsuppressed') }}
    where region_code = '08116'
)

select
    district.indicator_id, district.period, district.group_code,
    district.numerator as district_numerator, municipalities.numerator as sum_numerator,
    district.denominator as district_denominator, municipalities.denominator as sum_denominator,
    district.denominator_count as district_denominator_count,
    municipalities.denominator_count as sum_denominator_count
from district
full outer join municipalities
    on municipalities.indicator_id = district.indicator_id
    and municipalities.period = district.period
    and municipalities.group_code = district.group_code
where district.indicator_id is null
    or municipalities.indicator_id is null
    or district.numerator <> municipalities.numerator
    or district.denominator_count is distinct from municipalities.denominator_count
    -- ARB-03's denominator is a sum divided by 12: compare with a tolerance
    or abs(coalesce(district.denominator, 0) - coalesce(municipalities.denominator, 0)) > 1e-9
    or (district.denominator is null) <> (municipalities.denominator is null)
