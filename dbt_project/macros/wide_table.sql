{#
  A wide analyst table (one field of action, one periodicity): one row per period x region,
  one value column per indicator x group named <indicator>_<group> (e.g. arb_01_insgesamt),
  holding only the published value of indicator_values (NULL where suppressed, undefined or
  not published). Which indicators and groups: catalogue().wide_tables[name] (macros/catalogue.sql,
  generated from sources/indicators.yml), so the table's shape never depends on the data.
#}
{% macro wide_table(name) %}
{%- set indicators = catalogue()['wide_tables'][name] %}
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
