-- The periods each indicator is published for: those whose input files are all present
-- (indicators.md, per indicator). Generated at compile time from each indicator's
-- `published_when` in sources/indicators.yml (macro catalogue()): no list of indicators here.
-- Built from the file registry, never from whether rows exist: a header-only naturalisation
-- file is a present month with 0 naturalisations.
--   driver             the file type whose periods are the candidates
--   per: year          a calendar year of a monthly driver, only with all twelve months
--   window_months: N   a month m of a monthly driver, only with all N months m-N+1 .. m
--   needs              further files relative to the candidate's year Y: `year` (Y),
--                      `year-1` (Y-1), `december` (Y-12), `december-1` ((Y-1)-12)

with files as (
    select
        file_type,
        period,
        {{ period_year('period') }} as year,
        case when length(period) = 7 then {{ month_index('period') }} end as month_index
    from {{ ref('int_file_periods') }}
),

{%- set needed_period = {
    'year': "cast(c.year as varchar)",
    'year-1': "cast(c.year - 1 as varchar)",
    'december': "cast(c.year as varchar) || '-12'",
    'december-1': "cast(c.year - 1 as varchar) || '-12'",
} %}

available as (
    {%- for ind in catalogue()['indicators'] %}
    {%- set rule = ind['published_when'] %}
    {%- set driver = rule['driver'] %}
    -- {{ ind['id'] }}
    select '{{ ind['id'] }}' as indicator_id,
        {%- if ind['periodicity'] == 'schuljahr' %} {{ school_year_label('c.period') }}{% else %} c.period{% endif %} as period
    from (
        {%- if rule['per'] == 'year' %}
        select cast(year as varchar) as period, year
        from files where file_type = '{{ driver }}'
        group by year
        having count(*) = 12
        {%- elif rule['window_months'] %}
        select m.period, m.year
        from files as m
        inner join files as w
            on w.file_type = m.file_type
            and w.month_index between m.month_index - {{ rule['window_months'] - 1 }} and m.month_index
        where m.file_type = '{{ driver }}'
        group by m.period, m.year
        having count(*) = {{ rule['window_months'] }}
        {%- else %}
        select period, year from files where file_type = '{{ driver }}'
        {%- endif %}
    ) as c
    {%- for need in rule['needs'] %}
    {% if loop.first %}where{% else %}  and{% endif %} exists (
        select 1 from files as f
        where f.file_type = '{{ need['file'] }}' and f.period = {{ needed_period[need['at']] }}
    )
    {%- endfor %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
)

select
    indicator_id,
    period,
    {{ period_end('period') }} as period_end
from available
