-- Handlungsfeld Bildung, wide: BIL-01 .. BIL-03 (school years YYYY/YY).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'BIL-01': ['insgesamt', 'deutsch', 'auslaendisch'],
    'BIL-02': ['insgesamt'],
    'BIL-03': ['insgesamt', 'deutsch', 'auslaendisch'],
} %}

{{ wide_table(indicators) }}
