-- Which file periods are present, per file type: the raw material of every indicator's
-- period set. From the file registry, so a header-only naturalisation file counts as present.
select
    file_type,
    period,
    file_sha256,
    row_count
from {{ ref('stg_meta__file_versions') }}
