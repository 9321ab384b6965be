-- The indicator catalogue as published (warehouse.md): one row per indicator.
select
    indicator_id,
    name_de,
    name_en,
    handlungsfeld,
    unit,
    periodicity,
    definition,
    source,
    caveats
from {{ ref('indicator_catalogue') }}
