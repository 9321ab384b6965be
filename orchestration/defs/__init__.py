"""Dagster definitions, one module per concern: resources, assets (inbox -> raw -> dbt -> published),
checks on the marts, and the refresh job with its schedule and sensor."""
