-- Handlungsfeld Wohnen, wide: WOH-01 .. WOH-03 (monthly).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'WOH-01': ['insgesamt', 'VU', 'AU'],
    'WOH-02': ['VU'],
    'WOH-03': ['insgesamt', 'VU', 'AU'],
} %}

{{ wide_table(indicators) }}
