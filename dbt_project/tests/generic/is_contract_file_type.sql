{#- Fails for every row whose value is not a file type of sources/contracts.yml (through the
    generated macro catalogue(), so a new source needs no change here). -#}
{% test is_contract_file_type(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} not in (
    {%- for file_type in catalogue()['file_types'] -%}
    '{{ file_type }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%}
)
{% endtest %}
