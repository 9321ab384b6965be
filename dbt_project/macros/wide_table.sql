{#
  A wide table of one field of action: one row per period x region, one value column per
  indicator x group named <indicator>_<group> (e.g. arb_01_insgesamt), holding only the
  published value of indicator_values (NULL where suppressed, undefined or not published).
  `indicators` maps indicator_id -> list of group codes; it is written out in each model,
  not derived from the data, so the table's shape never depends on which periods exist.
#}
{% macro wide_table(indicators) %}
{%- set cells = [] %}
{%- for indicator_id, groups in indicators.items() %}
    {%- for group_code in groups %}
        {%- do cells.append("max(value) filter (where indicator_id = '" ~ indicator_id ~ "' and group_code = '" ~ group_code ~ "') as "
            ~ (indicator_id ~ '_' ~ group_code) | lower | replace('-', '_')) %}
    {%- endfor %}
{%- endfor %}
select
    period,
    period_end,
    region_code,
    region_name,
    {{ cells | join(',\n    ') }}
from {{ ref('indicator_values') }}
where indicator_id in ('{{ indicators.keys() | join("', '") }}')
group by period, period_end, region_code, region_name
order by period, region_code
{% endmacro %}
