-- The sparse facts of every indicator in one table: the union of the per-field formula
-- models int_indicators_<field> (one per field of action of the catalogue, macro catalogue()).
-- Columns: indicator_id, period, ags, group_code, numerator, denominator, denominator_count,
-- and is_undefined (true for a municipality that has no figure at all, ENG-02 without an
-- answer; false where the formula model has no such column).

with facts as (
    {%- for model in catalogue()['fact_models'] %}
    select * from {{ ref(model) }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
)

select
    indicator_id,
    period,
    ags,
    group_code,
    numerator,
    denominator,
    denominator_count,
    coalesce(is_undefined, false) as is_undefined
from facts
