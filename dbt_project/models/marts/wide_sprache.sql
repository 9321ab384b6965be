-- Handlungsfeld Sprache, wide: SPR-01, SPR-02 (monthly).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'SPR-01': ['fluchtkontext'],
    'SPR-02': ['fluchtkontext'],
} %}

{{ wide_table(indicators) }}
