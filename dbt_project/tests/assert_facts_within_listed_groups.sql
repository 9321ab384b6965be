-- Reported in Dagster as a check of int_indicator_values_unsuppressed (a test over several models needs an anchor).
{{ config(meta={'dagster': {'ref': {'name': 'int_indicator_values_unsuppressed'}}}) }}
-- depends_on: {{ ref('int_indicator_values_unsuppressed') }}
-- Every group a formula model computes is one the catalogue lists for that indicator
-- (seed indicator_groups); anything else would be silently dropped from the grid.

with facts as (
    select distinct indicator_id, group_code from {{ ref('int_indicator_facts') }}
)

select facts.*
from facts
left join {{ ref('indicator_groups') }} as listed
    on listed.indicator_id = facts.indicator_id
    and listed.group_code = facts.group_code
where listed.indicator_id is null
