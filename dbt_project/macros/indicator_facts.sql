{#
  The common tail of every int_indicators_<field> model: sum the facts (numerator and
  denominator parts) per indicator, period, municipality and group, keep only the periods
  the indicator is published for, and drop cells that add nothing (the dense grid of
  int_indicator_values_unsuppressed fills them with 0).
#}
{% macro collapse_indicator_facts(facts='facts', periods='published_periods') %}
select
    {{ facts }}.indicator_id,
    {{ facts }}.period,
    {{ facts }}.ags,
    {{ facts }}.group_code,
    sum({{ facts }}.numerator) as numerator,
    sum({{ facts }}.denominator) as denominator,
    sum({{ facts }}.denominator_count) as denominator_count
from {{ facts }}
inner join {{ periods }}
    on {{ periods }}.indicator_id = {{ facts }}.indicator_id
    and {{ periods }}.period = {{ facts }}.period
group by {{ facts }}.indicator_id, {{ facts }}.period, {{ facts }}.ags, {{ facts }}.group_code
having sum({{ facts }}.numerator) <> 0 or coalesce(sum({{ facts }}.denominator_count), 0) <> 0
{% endmacro %}
