-- Handlungsfeld Arbeit, wide: ARB-01 .. ARB-04 (all monthly).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'ARB-01': ['insgesamt', 'deutsch', 'auslaendisch'],
    'ARB-02': ['insgesamt', 'deutsch', 'auslaendisch', 'fluchtkontext'],
    'ARB-03': ['insgesamt', 'deutsch', 'auslaendisch', 'fluchtkontext'],
    'ARB-04': ['insgesamt', 'deutsch', 'auslaendisch', 'fluchtkontext'],
} %}

{{ wide_table(indicators) }}
