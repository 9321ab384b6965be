{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ delete_changed_periods('esu') }}"
    )
}}
-- School-entry examinations per examination year, municipality of residence, nationality
-- group and family-language group: every count GES-01..03 and REG-01 need, so nothing
-- downstream reads child rows.
-- Incremental: only the periods listed for esu in meta.changed_periods are (re)aggregated.

with children as (
    select * from {{ ref('stg_gesundheitsamt__school_entry_examinations') }}
    where {{ changed_periods_filter('esu') }}
),

classified as (
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
        vorsorgeheft,
        u8,
        impfpass,
        masern_impfungen,
        sprachbefund,
        kita_monate
    from children
)

select
    period,
    file_sha256,
    ags,
    nationality_group,
    language_group,
    count(*) as n_children,
    count(*) filter (where vorsorgeheft) as n_vorsorgeheft,
    count(*) filter (where vorsorgeheft and u8) as n_vorsorgeheft_u8,
    count(*) filter (where impfpass) as n_impfpass,
    count(*) filter (where impfpass and masern_impfungen = 2) as n_impfpass_masern_2,
    count(*) filter (where sprachbefund in ('unauffaellig', 'foerderbedarf', 'intensiv')) as n_sprache_getestet,
    count(*) filter (where sprachbefund = 'intensiv') as n_sprache_intensiv,
    count(*) filter (where kita_monate is not null) as n_kita_bekannt,
    count(*) filter (where kita_monate < 24) as n_kita_unter_24
from classified
group by period, file_sha256, ags, nationality_group, language_group
