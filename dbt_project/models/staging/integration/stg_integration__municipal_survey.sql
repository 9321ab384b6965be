-- The integration management's yearly survey of the municipalities, one row per municipality
-- (all 44, file engagement_YYYY).
with source as (
    select * from {{ source('raw', 'engagement') }}
),

renamed as (
    select
        -- delivery
        period,
        file_sha256,
        jahr,
        -- municipality and its answers (NULL = not answered)
        ags,
        integrationsgremium,
        ehrenamtliche,
        migrantenorganisationen
    from source
)

select * from renamed
