-- Handlungsfeld Rechtsstatus, monthly part, wide: REC-01, REC-02 (the yearly REC-03/04 are in wide_rechtsstatus_jahr).
-- Columns <indicator>_<group>; see macros/wide_table.sql. The list equals seed indicator_groups
-- (tests/test_analyst_marts.py checks that).
{%- set indicators = {
    'REC-01': ['insgesamt', 'eu', 'unbefristet', 'befristet', 'schutz_anerkannt', 'schutz_offen', 'schutz_abgelehnt', 'sonstige'],
    'REC-02': ['insgesamt'],
} %}

{{ wide_table(indicators) }}
