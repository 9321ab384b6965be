{#- Period arithmetic on the text periods 'YYYY-MM' / 'YYYY' (file-name periods). -#}

{#- 'YYYY-MM' -> months since year 0, so that "m-11 .. m" is a plain integer range. -#}
{% macro month_index(period) -%}
    (cast(substr({{ period }}, 1, 4) as integer) * 12 + cast(substr({{ period }}, 6, 2) as integer) - 1)
{%- endmacro %}

{#- The year of a 'YYYY-MM' or 'YYYY' period as integer. -#}
{% macro period_year(period) -%}
    cast(substr({{ period }}, 1, 4) as integer)
{%- endmacro %}

{#- School file period 'YYYY' (first year) -> published school year 'YYYY/YY'. -#}
{% macro school_year_label(period) -%}
    ({{ period }} || '/' || right(cast(cast({{ period }} as integer) + 1 as varchar), 2))
{%- endmacro %}

{#- End date of a published period: month end ('YYYY-MM'), 31 December ('YYYY'),
    31 July of the second year ('YYYY/YY'). -#}
{% macro period_end(period) -%}
    case
        when regexp_full_match({{ period }}, '[0-9]{4}-[0-9]{2}')
            then last_day(cast({{ period }} || '-01' as date))
        when regexp_full_match({{ period }}, '[0-9]{4}/[0-9]{2}')
            then make_date(cast(substr({{ period }}, 1, 4) as integer) + 1, 7, 31)
        when regexp_full_match({{ period }}, '[0-9]{4}')
            then make_date(cast({{ period }} as integer), 12, 31)
    end
{%- endmacro %}
