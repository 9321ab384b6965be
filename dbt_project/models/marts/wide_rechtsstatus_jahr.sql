-- Handlungsfeld Rechtsstatus, yearly part, wide: REC-03, REC-04 (calendar years; the monthly REC-01/02 are in wide_rechtsstatus_monat).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'REC-03': ['insgesamt'],
    'REC-04': ['insgesamt'],
} %}

{{ wide_table(indicators) }}
