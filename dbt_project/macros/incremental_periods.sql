{#- The incremental contract of the person-level aggregates (var `changed_periods`,
    documented in dbt_project.yml). -#}

{#- The changed file-name periods of one file type, validated: they end up in SQL text. -#}
{% macro changed_periods(file_type) -%}
    {%- set all_changes = var('changed_periods', {}) or {} -%}
    {%- if all_changes is not mapping -%}
        {{ exceptions.raise_compiler_error("var changed_periods must be a mapping file_type -> [period, ...], got: " ~ all_changes) }}
    {%- endif -%}
    {%- set periods = all_changes.get(file_type, []) or [] -%}
    {%- if periods is string or periods is not iterable -%}
        {%- set periods = [periods] -%}
    {%- endif -%}
    {%- set checked = [] -%}
    {%- for p in periods -%}
        {%- set p = p | string | trim -%}
        {%- if not modules.re.fullmatch('[0-9]{4}(-[0-9]{2})?', p) -%}
            {{ exceptions.raise_compiler_error("changed_periods." ~ file_type ~ ": '" ~ p ~ "' is not a period YYYY-MM or YYYY") }}
        {%- endif -%}
        {%- do checked.append(p) -%}
    {%- endfor -%}
    {{ return(checked | unique | list) }}
{%- endmacro %}

{#- WHERE condition for the rows an incremental aggregate (re)builds:
    full build: all rows; incremental: only the changed periods (none if nothing changed). -#}
{% macro changed_periods_filter(file_type, column='period') -%}
    {%- if is_incremental() -%}
        {%- set periods = changed_periods(file_type) -%}
        {%- if periods | length > 0 -%}
            {{ column }} in ('{{ periods | join("', '") }}')
        {%- else -%}
            false
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- pre_hook: drop the changed periods from the existing table before they are re-inserted.
    Deleting (rather than merging) also empties a period whose new file has no rows. -#}
{% macro delete_changed_periods(file_type) -%}
    {%- if is_incremental() and changed_periods(file_type) | length > 0 -%}
        delete from {{ this }} where {{ changed_periods_filter(file_type) }}
    {%- else -%}
        select 1 /* nothing to delete */
    {%- endif -%}
{%- endmacro %}
