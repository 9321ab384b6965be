{#- Models land in the schema named in dbt_project.yml (`staging`, `intermediate`, `marts`,
    `reference`), not dbt's default `<target>_<custom>`: the publish step copies schema
    `marts` by name, and person-level models must never end up there. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
