-- Reported in Dagster as a check of int_indicator_values_unsuppressed (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'int_indicator_values_unsuppressed'}}}) }}
-- depends_on: {{ ref('int_indicator_values_unsuppressed') }}
-- Every group a formula model computes is one the catalogue lists for that indicator
-- (seed indicator_groups); anything else would be silently dropped from the grid.
{%- set fact_models = ['int_indicators_arbeit', 'int_indicators_sprache', 'int_indicators_rechtsstatus',
                       'int_indicators_bildung', 'int_indicators_wohnen', 'int_indicators_demografie'] %}

with facts as (
    {%- for model in fact_models %}
    select distinct '{{ model }}' as model, indicator_id, group_code from {{ ref(model) }}
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
)

select facts.*
from facts
left join {{ ref('indicator_groups') }} as listed
    on listed.indicator_id = facts.indicator_id
    and listed.group_code = facts.group_code
where listed.indicator_id is null
