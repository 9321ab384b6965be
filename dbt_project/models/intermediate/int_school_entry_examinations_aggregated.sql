{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('esu') }}"
    )
}}
-- School-entry examinations per examination year and municipality of residence, counted per
-- combination of the attributes GES-01..03 and REG-01 filter and group by (nationality group,
-- family-language group, time in day care, the findings): a new indicator over them is one
-- formula in int_indicators_<field>.sql, with no change here or in the unit-test mocks of this
-- model. Nothing downstream reads child rows.
-- Incremental: only the periods listed for esu in meta.changed_periods are (re)aggregated.

with children as (
    select * from {{ ref('stg_gesundheitsamt__school_entry_examinations') }}
    where {{ changed_periods_filter('esu') }}
)

select
    period,
    file_sha256,
    ags,
    staatsangehoerigkeit as nationality_group,
    -- indicators.md: `deutsch_und_andere` and `andere` are "andere"; an empty family
    -- language belongs to no language group (NULL here)
    case
        when familiensprache = 'deutsch' then 'familiensprache_deutsch'
        when familiensprache in ('deutsch_und_andere', 'andere') then 'familiensprache_andere'
    end as language_group,
    kita_monate,
    vorsorgeheft,
    u8,
    impfpass,
    masern_impfungen,
    sprachbefund,
    count(*) as n_children
from children
group by all
