{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('abh_einbuergerungen') }}"
    )
}}
-- Naturalisations per month and municipality (REC-03, REC-04). A header-only month has no
-- row here; that it was delivered is known from int_file_periods.
-- Incremental: only the periods listed for abh_einbuergerungen in meta.changed_periods are (re)aggregated.

with naturalisations as (
    select * from {{ ref('stg_auslaenderbehoerde__naturalisations') }}
    where {{ changed_periods_filter('abh_einbuergerungen') }}
)

select
    period,
    file_sha256,
    ags,
    count(*) as n_naturalisations
from naturalisations
group by period, file_sha256, ags
