"""Dagster definitions, one module per concern: resources, assets (inbox -> raw -> dbt -> published),
checks on the marts, and the refresh job with its schedule and sensor.

dagster-dbt is imported here, before any module of this package, without dbt-core: it then
takes the path it has for a dbt without dbt-core in Python (dbt Fusion): its own enums for
dbt's statuses, the manifest read as JSON. dbt itself runs in its own process anyway (the
`dbt build` of the dbt step); importing dbt-core here only made every refresh process, the
Dagster UI's code server and each test's refresh ~1-2 s slower (issue 20: py-spy of a new
month at district scale, 2.2 s of the main process's CPU in dagster_dbt/compat.py). Where
this process has imported dbt-core before (a test, `orchestration/dbt.py` re-stamping a saved
parse), dagster-dbt finds it and uses it: both are paths dagster-dbt supports.
"""

import importlib.abc
import sys


class _WithoutDbtCore(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "dbt" or name.startswith("dbt."):
            raise ModuleNotFoundError(f"No module named {name!r} (dbt-core is not imported here)", name=name)
        return None


if "dagster_dbt" not in sys.modules and "dbt" not in sys.modules:
    _finder = _WithoutDbtCore()
    sys.meta_path.insert(0, _finder)
    try:
        import dagster_dbt  # noqa: F401
    finally:
        sys.meta_path.remove(_finder)
