{{ config(severity='warn') }}
-- Soft rule: a monthly file type has no missing month between its first and last period.
-- A gap is allowed (that month is simply not published, and ARB-03 / REC-03 / REC-04
-- windows touching it stay unpublished) but somebody should ask the provider.

with months as (
    select file_type, {{ month_index('period') }} as month_index
    from {{ ref('int_file_periods') }}
    where file_type in (
        {%- for file_type, periodicity in catalogue()['file_types'].items() if periodicity == 'monat' -%}
        '{{ file_type }}'{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    )
)

select
    file_type,
    min(month_index) as first_month_index,
    max(month_index) as last_month_index,
    count(*) as months_present,
    max(month_index) - min(month_index) + 1 - count(*) as months_missing
from months
group by file_type
having count(*) <> max(month_index) - min(month_index) + 1
