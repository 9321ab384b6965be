-- Handlungsfeld Demografie, wide: DEM-01 (calendar years).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'DEM-01': ['insgesamt'],
} %}

{{ wide_table(indicators) }}
