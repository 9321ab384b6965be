{#- The incremental contract of the person-level aggregates: table meta.changed_periods
    (file_type, period), one row per file-name period that changed since the last build.
    The orchestration rewrites it right before every `dbt build` (orchestration/warehouse.py, write_changed_periods);
    the on-run-start hook creates it empty where it does not exist yet (a fresh or unit-test
    database). Being data rather than a var, it leaves dbt's partial parsing intact. -#}

{#- DDL for the on-run-start hook (dbt_project.yml); the internal warehouse creates the same table (orchestration/warehouse.py, META_DDL). -#}
{% macro create_changed_periods_table() -%}
    create schema if not exists meta;
    create table if not exists meta.changed_periods (file_type varchar, period varchar)
{%- endmacro %}

{#- WHERE condition for the rows an incremental aggregate (re)builds:
    full build: all rows; incremental: only the periods listed for the file type (none if
    it has no row). At parse time is_incremental() is false, so the source is referenced
    there explicitly for dbt to record the dependency; a unit test of an incremental build
    mocks it with `input: source('meta', 'changed_periods')`, one of a full build needs no input. -#}
{% macro changed_periods_filter(file_type, column='period') -%}
    {%- if not execute -%}
        {%- do source('meta', 'changed_periods') -%}
    {%- endif -%}
    {%- if is_incremental() -%}
        {{ column }} in (select period from {{ source('meta', 'changed_periods') }} where file_type = '{{ file_type }}')
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- pre_hook: drop the changed periods from the existing table before they are re-inserted.
    Deleting (rather than merging) also empties a period whose new file has no rows. -#}
{% macro delete_changed_periods(file_type) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ changed_periods_filter(file_type) }}
    {%- else -%}
        select 1 /* nothing to delete */
    {%- endif -%}
{%- endmacro %}
