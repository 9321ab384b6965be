-- The queries an analyst asks first. Portable SQL: they run unchanged on the published
-- DuckDB file and on the PostgreSQL schema `monitoring` (tests/test_bi_recipes.py runs both).
-- Handing a DuckDB connection to others (a shared notebook, a BI tool): open the file
-- read-only and lock it first, so SQL reaches the published tables and no other file
-- (docs/bi.md, "Other DuckDB clients"):
--   SET enable_external_access = false; SET lock_configuration = true;

-- name: indicator_over_time_for_one_municipality
-- SGB-II-Quote (ARB-01) of Esslingen am Neckar, month by month. Suppressed = NULL value.
SELECT period, value, numerator, denominator, is_suppressed
FROM indicator_values
WHERE indicator_id = 'ARB-01' AND region_code = '08116019' AND group_code = 'insgesamt'
ORDER BY period;

-- name: all_municipalities_latest_period
-- Every municipality for the latest published month of ARB-01, highest first.
SELECT region_code, region_name, period, value, is_suppressed
FROM latest_values
WHERE indicator_id = 'ARB-01' AND group_code = 'insgesamt' AND region_code <> '08116'
ORDER BY value DESC NULLS LAST, region_code;

-- name: field_of_action_wide
-- Handlungsfeld Arbeit as one wide table, latest month: one row per region.
SELECT *
FROM wide_arbeit
WHERE period = (SELECT max(period) FROM wide_arbeit)
ORDER BY region_code;

-- name: evaluation_against_targets
-- District values with a Zielwert, their status and the change against a year before.
SELECT indicator_id, group_code, period, value, target_value, status, change_year_before
FROM indicator_evaluation
WHERE region_code = '08116' AND target_value IS NOT NULL
  AND period = (SELECT max(period) FROM indicator_evaluation e2 WHERE e2.indicator_id = indicator_evaluation.indicator_id)
ORDER BY indicator_id, group_code;
