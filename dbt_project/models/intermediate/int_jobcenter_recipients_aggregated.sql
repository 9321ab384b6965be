{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('jobcenter') }}"
    )
}}
-- The SGB II stock per month, municipality, nationality group and fluchtkontext: every
-- count the Arbeit and Sprache indicators need, so nothing downstream reads person rows.
-- Incremental: only the periods listed for jobcenter in meta.changed_periods are (re)aggregated.

with recipients as (
    select * from {{ ref('stg_jobcenter__recipients') }}
    where {{ changed_periods_filter('jobcenter') }}
),

classified as (
    select
        period,
        file_sha256,
        ags,
        case when staatsangehoerigkeit = '000' then 'deutsch' else 'auslaendisch' end as nationality_group,
        fluchtkontext,
        -- age as the catalogue defines it: year of the reporting month minus year of birth
        {{ period_year('berichtsmonat') }} - geburtsjahr as age,
        elb,
        erwerbstaetig,
        integration_beschaeftigung,
        integrationskurs
    from recipients
)

select
    period,
    file_sha256,
    ags,
    nationality_group,
    fluchtkontext,
    count(*) as n_persons,
    count(*) filter (where age <= 64) as n_under_65,
    count(*) filter (where elb) as n_elb,
    count(*) filter (where elb and integration_beschaeftigung) as n_elb_integration_beschaeftigung,
    count(*) filter (where elb and erwerbstaetig) as n_elb_erwerbstaetig,
    count(*) filter (
        where elb and integrationskurs in ('laufend', 'abgeschlossen_b1', 'abgeschlossen_unter_b1')
    ) as n_elb_kurs_beteiligt,
    count(*) filter (
        where elb and integrationskurs in ('abgeschlossen_b1', 'abgeschlossen_unter_b1')
    ) as n_elb_kurs_abgeschlossen,
    count(*) filter (where elb and integrationskurs = 'abgeschlossen_b1') as n_elb_kurs_b1
from classified
group by period, file_sha256, ags, nationality_group, fluchtkontext
