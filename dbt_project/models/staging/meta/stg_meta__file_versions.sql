-- The file versions whose rows are in raw.* now: one row per file type and period,
-- including header-only files (a naturalisation month without any).
with source as (
    select * from {{ source('meta', 'file_versions') }}
),

renamed as (
    select
        file_type,
        period,
        file_name,
        sha256 as file_sha256,
        cast(row_count as bigint) as row_count
    from source
    where is_current
)

select * from renamed
