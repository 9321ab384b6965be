{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('jobcenter') }}"
    )
}}
-- The SGB II stock per month and municipality, counted per combination of every attribute
-- an indicator of the Arbeit and Sprache fields can filter or group by (nationality group,
-- fluchtkontext, age <= 64, the flags, the course status): a new indicator over these
-- attributes is one formula in int_indicators_<field>.sql (sum(n_persons) filter (where ...)),
-- with no change here or in the unit-test mocks of this model. Nothing downstream reads person rows.
-- Incremental: only the periods listed for jobcenter in meta.changed_periods are (re)aggregated.

with recipients as (
    select * from {{ ref('stg_jobcenter__recipients') }}
    where {{ changed_periods_filter('jobcenter') }}
)

select
    period,
    file_sha256,
    ags,
    case when staatsangehoerigkeit = '000' then 'deutsch' else 'auslaendisch' end as nationality_group,
    fluchtkontext,
    -- age as the catalogue defines it: year of the reporting month minus year of birth
    {{ period_year('berichtsmonat') }} - geburtsjahr <= 64 as under_65,
    elb,
    arbeitslos,
    erwerbstaetig,
    integration_beschaeftigung,
    integrationskurs,
    count(*) as n_persons
from recipients
group by all
