"""The Superset dashboards as code, generated from the indicator catalogue.

`python -m bi.bundle` writes `bi/superset/` (Superset's export format: YAML files with
fixed UUIDs, importable with `superset import-dashboards` or bi/admin.py). Nothing in that
folder is edited by hand: a new indicator in sources/indicators.yml appears after a
regeneration, and tests/test_bi.py fails when the committed files drift from the catalogue.

What is generated:
- three virtual datasets on the PostgreSQL serving schema (read as the reader role):
  `bi_werte` (every value with German labels), `bi_vergleich` (only the chosen period, the
  latest per indicator when none is chosen) and `bi_uebersicht` (latest district value per
  indicator); plus the physical `indicator_values` of the DuckDB file for SQL Lab;
- an overview dashboard and one dashboard per field of action: per indicator a time series
  (district and the municipalities chosen in the filter), the municipality comparison for
  the latest (or chosen) period and a table; native filters for area, group and period.

Suppressed cells (is_suppressed) carry the label "· (geheim)" in tables and bar labels and
are explained on every dashboard; they are never shown as 0.

The database entries carry placeholder URIs: bi/admin.py fills in the real connection
(from the environment) in memory at import time, so no credentials are in the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import yaml

from bi.settings import DUCKDB_LOCK
from orchestration.settings import DISTRICT_CODE, DISTRICT_NAME
from sources import catalogue as cat

BUNDLE_DIR = Path(__file__).resolve().parent / "superset"
_NS = uuid.UUID("6b1f6f0e-3c51-4a55-9d0c-3f2b8a1e7d42")  # fixed: UUIDs must not change between runs
TIMESTAMP = "2026-01-01T00:00:00+00:00"
SCHEMA = "monitoring"
PG_DB_NAME = "Integrationsmonitor (PostgreSQL, Leserolle)"
DUCK_DB_NAME = "Integrationsmonitor (DuckDB-Datei, nur lesen)"
PG_URI_PLACEHOLDER = "postgresql://imon_reader@serving-host:5432/imon"
DUCK_URI_PLACEHOLDER = "duckdb:////path/to/published/monitoring.duckdb"
SUPPRESSED = "· (geheim)"
NO_VALUE = "–"
UNIT_SUFFIX = {"anzahl": "", "prozent": " %", "je_1000": " je 1.000", "je_100": " je 100",
               "anzahl_gemeinden": " Gemeinden"}
UNIT_LABEL = {"anzahl": "Anzahl", "prozent": "Prozent", "je_1000": "je 1.000", "je_100": "je 100",
              "anzahl_gemeinden": "Anzahl Gemeinden"}
NOTE_SUPPRESSED = (
    f"**Geheimhaltung:** Zellen mit weniger als der Mindestfallzahl (und die zur Rückrechnung "
    f"nötigen weiteren Zellen) sind geheim gehalten. Sie stehen in Tabellen als „{SUPPRESSED}“ "
    f"und in der Gemeindevergleich-Grafik als Gebiet mit dem Zusatz „{SUPPRESSED}“ ohne Balken, "
    f"nie als 0. „{NO_VALUE}“ heißt: kein Wert (z. B. Nenner 0)."
)


def uid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _values_cte(name: str, cols: list[str], rows: list[tuple[str, ...]]) -> str:
    body = ",\n    ".join("(" + ", ".join(_lit(v) for v in row) + ")" for row in rows)
    return f"{name}({', '.join(cols)}) AS (VALUES\n    {body})"


def _fmt(expr: str, counts: str) -> str:
    """German number text of a DOUBLE (PostgreSQL to_char, then swap , and .): whole
    numbers where `counts` holds, else one decimal."""
    return (f"translate(to_char({expr}, CASE WHEN {counts} THEN 'FM999,999,999,990' "
            f"ELSE 'FM999,999,999,990.0' END), ',.', '.,')")


def base_sql(c: cat.Catalogue) -> str:
    """Every published value with the catalogue's German labels (one source: indicators.yml)."""
    fields = {f.slug: f.name for f in c.fields}
    katalog = _values_cte(
        "katalog", ["indicator_id", "indikator", "feld", "handlungsfeld"],
        [(i.id, i.name_de, i.field, fields[i.field]) for i in c.indicators])
    gruppen = _values_cte(
        "gruppen", ["group_code", "gruppe", "reihenfolge"],
        [(code, label, f"{n:02d}") for n, (code, label) in enumerate(c.group_labels.items())])
    suffix = " ".join(f"WHEN {_lit(u)} THEN {_lit(s)}" for u, s in UNIT_SUFFIX.items())
    shown = lambda col: (  # noqa: E731
        f"CASE WHEN v.is_suppressed THEN {_lit(SUPPRESSED)} WHEN v.{col} IS NULL THEN {_lit(NO_VALUE)} "
        f"ELSE {_fmt('v.' + col, f'v.{col} = round(v.{col})')} END")
    return f"""\
WITH {katalog},
{gruppen}
SELECT
  v.indicator_id,
  coalesce(k.indikator, v.indicator_id) AS indikator,
  k.feld,
  k.handlungsfeld,
  v.period,
  v.period_end,
  v.region_code,
  v.region_name,
  CASE WHEN v.region_code = {_lit(DISTRICT_CODE)} THEN 'Landkreis' ELSE 'Gemeinde' END AS gebietsart,
  v.region_name || CASE WHEN v.is_suppressed THEN ' {SUPPRESSED}' ELSE '' END AS gebiet_anzeige,
  v.group_code,
  coalesce(g.gruppe, v.group_code) AS gruppe,
  coalesce(g.reihenfolge, '99') AS gruppe_reihenfolge,
  v.numerator,
  v.denominator,
  v.value,
  v.unit,
  v.is_suppressed,
  CASE WHEN v.is_suppressed THEN {_lit(SUPPRESSED)} WHEN v.value IS NULL THEN {_lit(NO_VALUE)}
       ELSE {_fmt('v.value', "v.unit IN ('anzahl', 'anzahl_gemeinden')")} || CASE v.unit {suffix} ELSE '' END END AS wert_anzeige,
  {shown('numerator')} AS zaehler_anzeige,
  {shown('denominator')} AS nenner_anzeige
FROM {SCHEMA}.indicator_values v
LEFT JOIN katalog k ON k.indicator_id = v.indicator_id
LEFT JOIN gruppen g ON g.group_code = v.group_code"""


def comparison_sql(c: cat.Catalogue) -> str:
    """Only the chosen period of each indicator: the latest one of the period filter's
    choice, or the indicator's latest period when nothing is chosen (Jinja, see
    ENABLE_TEMPLATE_PROCESSING in superset_config.py; where_in quotes the values)."""
    return f"""\
SELECT w.* FROM (
{base_sql(c)}
) w
WHERE w.period_end = (
  SELECT max(p.period_end) FROM {SCHEMA}.indicator_values p
  WHERE p.indicator_id = w.indicator_id
  {{% if filter_values('period') %}}AND p.period IN {{{{ filter_values('period')|where_in }}}}{{% endif %}}
)"""


def overview_sql(c: cat.Catalogue) -> str:
    """The latest district value per indicator: group insgesamt, or the indicator's first
    group where it has none (SPR-01 counts only fluchtkontext)."""
    main = ", ".join(f"({_lit(i.id)}, {_lit('insgesamt' if 'insgesamt' in i.groups else i.groups[0])})"
                     for i in c.indicators)
    return f"""\
SELECT w.* FROM (
{base_sql(c)}
) w
JOIN (VALUES {main}) AS hauptgruppe(indicator_id, group_code)
  ON hauptgruppe.indicator_id = w.indicator_id AND hauptgruppe.group_code = w.group_code
WHERE w.region_code = {_lit(DISTRICT_CODE)}
  AND w.period_end = (SELECT max(p.period_end) FROM {SCHEMA}.indicator_values p
                      WHERE p.indicator_id = w.indicator_id)"""


# --------------------------------------------------------------------------- datasets

_COLUMNS = [
    # name, German label, type, is_dttm, description
    ("indicator_id", "Indikator-Nr.", "STRING", False, "Kennung des Indikators, z. B. ARB-01"),
    ("indikator", "Indikator", "STRING", False, "Name des Indikators (Katalog)"),
    ("feld", "Handlungsfeld (Kürzel)", "STRING", False, None),
    ("handlungsfeld", "Handlungsfeld", "STRING", False, None),
    ("period", "Zeitraum", "STRING", False, "Monat (JJJJ-MM), Jahr (JJJJ) oder Schuljahr (JJJJ/JJ)"),
    ("period_end", "Stichtag", "DATE", True, "letzter Tag des Zeitraums"),
    ("region_code", "Gebietsschlüssel", "STRING", False, f"{DISTRICT_CODE} = Landkreis, sonst AGS"),
    ("region_name", "Gebiet", "STRING", False, None),
    ("gebietsart", "Gebietsart", "STRING", False, "Landkreis oder Gemeinde"),
    ("gebiet_anzeige", "Gebiet (mit Geheimhaltung)", "STRING", False,
     f"Gebiet, bei geheim gehaltenem Wert mit dem Zusatz „{SUPPRESSED}“"),
    ("group_code", "Gruppe (Schlüssel)", "STRING", False, None),
    ("gruppe", "Gruppe", "STRING", False, None),
    ("gruppe_reihenfolge", "Gruppe (Reihenfolge)", "STRING", False, None),
    ("numerator", "Zähler (Zahl)", "FLOAT", False, "leer, wenn geheim gehalten"),
    ("denominator", "Nenner (Zahl)", "FLOAT", False, "leer bei Anzahlen und wenn geheim gehalten"),
    ("value", "Wert (Zahl)", "FLOAT", False, "Anzahl oder Quote; leer, wenn geheim gehalten oder undefiniert"),
    ("unit", "Einheit", "STRING", False, None),
    ("is_suppressed", "geheim gehalten", "BOOLEAN", False, "Geheimhaltungsregel angewandt"),
    ("wert_anzeige", "Wert", "STRING", False, f"Wert als Text; „{SUPPRESSED}“ wenn geheim gehalten"),
    ("zaehler_anzeige", "Zähler", "STRING", False, f"Zähler als Text; „{SUPPRESSED}“ wenn geheim gehalten"),
    ("nenner_anzeige", "Nenner", "STRING", False, f"Nenner als Text; „{SUPPRESSED}“ wenn geheim gehalten"),
]


def _dataset(name: str, sql: str | None, description: str, db_uuid: str, schema: str | None,
             columns=_COLUMNS) -> dict:
    return {
        "table_name": name,
        "main_dttm_col": "period_end",
        "description": description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": schema,
        "sql": sql,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", name, db_uuid),
        "metrics": [{
            "metric_name": "wert",
            "verbose_name": "Wert",
            "metric_type": None,
            "expression": "MAX(value)",
            "description": "der veröffentlichte Wert (eine Zeile je Indikator, Zeitraum, Gebiet, Gruppe)",
            "d3format": None,
            "currency": None,
            "extra": None,
            "warning_text": None,
        }],
        "columns": [{
            "column_name": col,
            "verbose_name": label,
            "is_dttm": dttm,
            "is_active": True,
            "type": typ,
            "advanced_data_type": None,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": desc,
            "python_date_format": None,
            "extra": None,
        } for col, label, typ, dttm, desc in columns],
        "version": "1.0.0",
        "database_uuid": db_uuid,
    }


def _database(name: str, uri: str, extra: dict) -> dict:
    return {
        "database_name": name,
        "sqlalchemy_uri": uri,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": extra,
        "impersonate_user": False,
        "uuid": uid("database", name),
        "version": "1.0.0",
    }


# --------------------------------------------------------------------------- charts

def _filter(col: str, value: str) -> dict:
    return {"clause": "WHERE", "expressionType": "SIMPLE", "subject": col, "operator": "==",
            "comparator": value, "isExtra": False, "isNew": False,
            "filterOptionName": "filter_" + uid("filter", col, value)[:13].replace("-", "")}


_METRIC = {"expressionType": "SQL", "sqlExpression": "MAX(value)", "label": "Wert",
           "hasCustomLabel": True, "optionName": "metric_wert"}


def _query_context(params: dict, columns: list[str], metrics: list | None, orderby: list) -> str:
    """The chart's saved query (what GET /api/v1/chart/{id}/data/, alerts and reports,
    thumbnails and cache warm-up run): the chart's own filters, columns and metrics, no
    dashboard filter. metrics None = raw rows (an empty list would mean GROUP BY). The
    import puts the dataset's real id in place of 0."""
    query = {
        "filters": [{"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
                    for f in params["adhoc_filters"]],
        "extras": {"having": "", "where": ""}, "applied_time_extras": {},
        "columns": columns, "metrics": metrics, "orderby": orderby,
        "annotation_layers": [], "row_limit": params["row_limit"], "series_limit": 0,
        "order_desc": True, "url_params": {}, "custom_params": {}, "custom_form_data": {},
    }
    return json.dumps({"datasource": {"id": 0, "type": "table"}, "force": False,
                       "queries": [query], "form_data": params,
                       "result_format": "json", "result_type": "full"}, ensure_ascii=False)


def _chart(key: str, title: str, description: str, viz: str, params: dict, dataset: dict) -> dict:
    params = {"viz_type": viz, "datasource": None, **params}
    if params.get("query_mode") == "raw":
        columns, metrics = params["all_columns"], None
        orderby = [json.loads(o) for o in params["order_by_cols"]]
    else:
        columns, metrics = [params["x_axis"], *params["groupby"]], params["metrics"]
        orderby = [[params["metrics"][0], False]]
    return {
        "slice_name": title,
        "description": description,
        "certified_by": None,
        "certification_details": None,
        "viz_type": viz,
        "params": params,
        "query_context": _query_context(params, columns, metrics, orderby),
        "cache_timeout": None,
        "uuid": uid("chart", key),
        "version": "1.0.0",
        "dataset_uuid": dataset["uuid"],
    }


def _y_format(ind: cat.Indicator) -> str:
    return ",d" if ind.unit in ("anzahl", "anzahl_gemeinden") else ",.1f"


def indicator_charts(ind: cat.Indicator, ds: dict[str, dict]) -> list[dict]:
    where = [_filter("indicator_id", ind.id)]
    unit = UNIT_LABEL[ind.unit]
    head = f"{ind.id} {ind.name_de}"
    series = _chart(
        f"{ind.id}/zeitreihe", f"{head}: Zeitreihe",
        f"{ind.definition} Einheit: {unit}. Landkreis und die im Filter „Gebiet“ gewählten Gemeinden.",
        "echarts_timeseries_line",
        {"x_axis": "period_end", "time_grain_sqla": None, "metrics": [_METRIC],
         "groupby": ["region_name", "gruppe"], "adhoc_filters": where, "row_limit": 10000,
         "order_desc": True, "truncate_metric": True, "show_legend": True, "legendType": "scroll",
         "legendOrientation": "top", "rich_tooltip": True, "markerEnabled": True, "markerSize": 4,
         "y_axis_format": _y_format(ind), "x_axis_time_format": "%Y-%m", "x_axis_title": "Stichtag",
         "y_axis_title": unit, "y_axis_title_margin": 30, "y_axis_title_position": "Left",
         "connectNulls": False, "seriesType": "line", "comparison_type": "values",
         "annotation_layers": [], "extra_form_data": {}, "color_scheme": "supersetColors"},
        ds["bi_werte"])
    compare = _chart(
        f"{ind.id}/vergleich", f"{head}: Gemeindevergleich",
        f"Alle Gemeinden und der Landkreis im gewählten bzw. letzten Zeitraum. Einheit: {unit}. "
        f"Geheim gehaltene Werte: Gebiet mit „{SUPPRESSED}“, ohne Balken.",
        "echarts_timeseries_bar",
        {"x_axis": "gebiet_anzeige", "metrics": [_METRIC], "groupby": ["gruppe"],
         "adhoc_filters": where, "row_limit": 10000, "orientation": "vertical",
         "truncate_metric": True, "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
         "rich_tooltip": True, "y_axis_format": _y_format(ind), "show_value": False,
         "truncateXAxis": False, "xAxisLabelRotation": 45, "x_axis_title_margin": 0,
         "stack": None, "annotation_layers": [], "extra_form_data": {}, "color_scheme": "supersetColors"},
        ds["bi_vergleich"])
    table = _chart(
        f"{ind.id}/tabelle", f"{head}: Tabelle",
        f"Werte im gewählten bzw. letzten Zeitraum, geheim gehaltene als „{SUPPRESSED}“.",
        "table",
        {"query_mode": "raw",
         "all_columns": ["region_name", "gruppe", "period", "wert_anzeige", "zaehler_anzeige",
                         "nenner_anzeige"],
         "order_by_cols": [json.dumps(["region_code", True]), json.dumps(["gruppe_reihenfolge", True])],
         "adhoc_filters": where, "row_limit": 5000, "server_page_length": 10, "include_search": True,
         "table_timestamp_format": "smart_date", "show_cell_bars": False, "color_pn": False,
         "extra_form_data": {}},
        ds["bi_vergleich"])
    return [series, compare, table]


def overview_chart(ds: dict[str, dict]) -> dict:
    return _chart(
        "uebersicht/tabelle", "Letzter Stand aller Indikatoren (Landkreis)",
        "Je Indikator der letzte veröffentlichte Zeitraum für den Landkreis Esslingen, Gruppe "
        "insgesamt (wo es sie nicht gibt: die erste Gruppe des Indikators).",
        "table",
        {"query_mode": "raw",
         "all_columns": ["handlungsfeld", "indicator_id", "indikator", "gruppe", "period",
                         "wert_anzeige", "zaehler_anzeige", "nenner_anzeige"],
         "order_by_cols": [json.dumps(["indicator_id", True])],
         "adhoc_filters": [], "row_limit": 1000, "server_page_length": 0, "include_search": False,
         "extra_form_data": {}},
        ds["bi_uebersicht"])


# --------------------------------------------------------------------------- dashboards

class _Layout:
    """Superset's dashboard position JSON (v2). Each CHART needs the chart's uuid and a
    `chartId`: any integer unique in the bundle; the import maps it to the new id."""

    def __init__(self, title: str):
        self.pos: dict = {
            "DASHBOARD_VERSION_KEY": "v2",
            "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
            "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
            "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": title}},
        }
        self.n = 0

    def _add(self, kind: str, parents: list[str], meta: dict) -> str:
        self.n += 1
        key = f"{kind}-{self.n:03d}"
        self.pos[key] = {"type": kind, "id": key, "children": [], "parents": parents, "meta": meta}
        self.pos[parents[-1]]["children"].append(key)
        return key

    def header(self, text: str) -> None:
        self._add("HEADER", ["ROOT_ID", "GRID_ID"], {"text": text, "headerSize": "MEDIUM_HEADER",
                                                    "background": "BACKGROUND_TRANSPARENT"})

    def row(self, items: list[tuple[str, dict, int, int]]) -> None:
        """items: (kind, payload, width, height); kind CHART (payload: chart + chartId) or MARKDOWN."""
        row = self._add("ROW", ["ROOT_ID", "GRID_ID"], {"background": "BACKGROUND_TRANSPARENT"})
        for kind, payload, width, height in items:
            if kind == "CHART":
                meta = {"width": width, "height": height, "chartId": payload["chartId"],
                        "sliceName": payload["chart"]["slice_name"], "uuid": payload["chart"]["uuid"]}
            else:
                meta = {"width": width, "height": height, "code": payload["code"]}
            self._add(kind, ["ROOT_ID", "GRID_ID", row], meta)


def _native_filter(fid: str, name: str, column: str, dataset: dict, description: str,
                   default: list[str] | None, excluded: list[int], multi: bool = True) -> dict:
    mask: dict = {"extraFormData": {}, "filterState": {}, "ownState": {}}
    if default:
        mask = {"extraFormData": {"filters": [{"col": column, "op": "IN", "val": default}]},
                "filterState": {"value": default, "label": ", ".join(default)}, "ownState": {}}
    return {
        "id": f"NATIVE_FILTER-{fid}",
        "name": name,
        "filterType": "filter_select",
        "targets": [{"column": {"name": column}, "datasetUuid": dataset["uuid"]}],
        "defaultDataMask": mask,
        "controlValues": {"enableEmptyFilter": False, "defaultToFirstItem": False,
                          "multiSelect": multi, "searchAllOptions": False, "inverseSelection": False,
                          "sortAscending": True},
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
        "type": "NATIVE_FILTER",
        "description": description,
    }


def _dashboard(key: str, title: str, slug: str, description: str, layout: _Layout,
               filters: list[dict]) -> dict:
    return {
        "dashboard_title": title,
        "description": description,
        "css": "",
        "slug": slug,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": uid("dashboard", key),
        "position": layout.pos,
        "metadata": {
            "native_filter_configuration": filters,
            "cross_filters_enabled": False,
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "shared_label_colors": [],
            "color_scheme_domain": [],
            "timed_refresh_immune_slices": [],
            "default_filters": "{}",
            "chart_configuration": {},
        },
        "version": "1.0.0",
    }


def field_dashboard(field: cat.Field, inds: list[cat.Indicator], ds: dict[str, dict],
                    charts: list[dict], next_id: int, total: str) -> tuple[dict, int]:
    title = f"Integrationsmonitor: {field.name}"
    layout = _Layout(title)
    names = ", ".join(f"{i.id} {i.name_de}" for i in inds) or "noch keine"
    layout.row([("MARKDOWN", {"code": (
        f"## Handlungsfeld {field.name}\n\n{field.intro}\n\nIndikatoren: {names}.\n\n"
        f"{NOTE_SUPPRESSED}\n\n**Filter:** „Gebiet“ wählt die Gemeinden der Zeitreihen (Landkreis "
        f"voreingestellt), „Gruppe“ die Bevölkerungsgruppe (ohne Auswahl: alle), „Zeitraum“ den Stand von Vergleich und "
        f"Tabelle (ohne Auswahl: der letzte veröffentlichte). Indikatoren ohne veröffentlichte "
        f"Werte zeigen „Keine Ergebnisse“."
    )}, 12, 30)])
    series_ids, compare_ids, table_ids = [], [], []
    for ind in inds:
        s, c, t = indicator_charts(ind, ds)
        ids = []
        for chart in (s, c, t):
            charts.append(chart)
            ids.append(next_id)
            next_id += 1
        series_ids.append(ids[0]); compare_ids.append(ids[1]); table_ids.append(ids[2])  # noqa: E702
        text = f"{ind.id} {ind.name_de}"
        layout.header(text)
        layout.row([("MARKDOWN", {"code": f"**{text}** ({UNIT_LABEL[ind.unit]}, {ind.periodicity})\n\n"
                                          f"{ind.definition}" + (f"\n\n*Hinweis:* {ind.caveats}" if ind.caveats else "")},
                     12, 20)])
        layout.row([("CHART", {"chart": s, "chartId": ids[0]}, 6, 60),
                    ("CHART", {"chart": t, "chartId": ids[2]}, 6, 60)])
        layout.row([("CHART", {"chart": c, "chartId": ids[1]}, 12, 70)])
    filters = [
        _native_filter(uid("nf", field.slug, "gebiet")[:8], "Gebiet", "region_name", ds["bi_werte"],
                       "Landkreis und Gemeinden der Zeitreihen", [DISTRICT_NAME],
                       compare_ids + table_ids),
        # "Insgesamt" preset only where every indicator has that group (SPR-01 has only
        # fluchtkontext): a preset must never hide an indicator.
        _native_filter(uid("nf", field.slug, "gruppe")[:8], "Gruppe", "gruppe", ds["bi_werte"],
                       "Bevölkerungsgruppe",
                       [total] if inds and all("insgesamt" in i.groups for i in inds) else None, []),
        _native_filter(uid("nf", field.slug, "zeitraum")[:8], "Zeitraum", "period", ds["bi_werte"],
                       "Stand von Gemeindevergleich und Tabelle (ohne Auswahl: der letzte)", None,
                       series_ids, multi=False),
    ]
    return _dashboard(f"feld/{field.slug}", title, f"imon-{field.slug}",
                      f"{field.name}: {field.intro}", layout, filters), next_id


def overview_dashboard(c: cat.Catalogue, ds: dict[str, dict], charts: list[dict], next_id: int):
    title = "Integrationsmonitor: Übersicht"
    layout = _Layout(title)
    lines = []
    for f in c.fields:
        inds = c.in_field(f.slug)
        lines.append(f"- [{f.name}](/superset/dashboard/imon-{f.slug}/): {len(inds)} Indikatoren "
                     f"({', '.join(i.id for i in inds) or '–'})")
    # Text above, the table over the full width and tall enough for one row per indicator
    # (grid unit 8 px, a table row about 37 px): no column off the edge, no scrolling.
    layout.row([("MARKDOWN", {"code": (
        "## Integrationsmonitor Landkreis Esslingen\n\nVeröffentlichter Indikatorensatz (nur "
        "aggregierte, geheimhaltungsgeprüfte Werte). Handlungsfelder:\n\n" + "\n".join(lines)
        + f"\n\n{NOTE_SUPPRESSED}")}, 12, 50)])
    layout.row([("CHART", {"chart": (chart := overview_chart(ds)), "chartId": next_id}, 12,
                 10 + 5 * len(c.indicators))])
    charts.append(chart)
    filters = [_native_filter(uid("nf", "uebersicht", "feld")[:8], "Handlungsfeld", "handlungsfeld",
                              ds["bi_uebersicht"], "Handlungsfeld", None, [])]
    return _dashboard("uebersicht", title, "imon-uebersicht",
                      "Letzter Stand aller Indikatoren und Wegweiser zu den Handlungsfeldern.",
                      layout, filters), next_id + 1


# --------------------------------------------------------------------------- the bundle

class _Dumper(yaml.SafeDumper):
    """Multi-line strings (SQL, Markdown) as readable literal blocks."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def build(c: cat.Catalogue | None = None) -> dict[str, str]:
    """The bundle as {relative path: YAML text}, deterministic."""
    c = c or cat.load()
    pg = _database(PG_DB_NAME, PG_URI_PLACEHOLDER, {
        "engine_params": {}, "metadata_params": {}, "schemas_allowed_for_file_upload": [],
        "allows_virtual_table_explore": True})
    # The DuckDB lock also travels with the database entry (connect config), for a Superset
    # that imports the bundle without bi/superset_config.py; ours enforces it regardless.
    duck = _database(DUCK_DB_NAME, DUCK_URI_PLACEHOLDER, {
        "engine_params": {"connect_args": {"read_only": True, "config": dict(DUCKDB_LOCK)}},
        "metadata_params": {},
        "schemas_allowed_for_file_upload": [], "allows_virtual_table_explore": True})
    ds = {
        "bi_werte": _dataset("bi_werte", base_sql(c), "Alle veröffentlichten Werte mit deutschen "
                             "Bezeichnungen aus dem Indikatorenkatalog.", pg["uuid"], SCHEMA),
        "bi_vergleich": _dataset("bi_vergleich", comparison_sql(c), "Werte des im Filter „Zeitraum“ "
                                 "gewählten, sonst des letzten Zeitraums je Indikator.", pg["uuid"], SCHEMA),
        "bi_uebersicht": _dataset("bi_uebersicht", overview_sql(c), "Letzter Wert je Indikator "
                                  "für den Landkreis, Gruppe insgesamt (sonst die erste).",
                                  pg["uuid"], SCHEMA),
    }
    duck_values = _dataset(
        "indicator_values", None, "Die Tabelle indicator_values der veröffentlichten DuckDB-Datei.",
        duck["uuid"], "main",
        [col for col in _COLUMNS if col[0] in (
            "indicator_id", "period", "period_end", "region_code", "region_name", "group_code",
            "numerator", "denominator", "value", "unit", "is_suppressed")])
    charts: list[dict] = []
    dashboards = []
    next_id = 1
    d, next_id = overview_dashboard(c, ds, charts, next_id)
    dashboards.append(d)
    for f in c.fields:
        d, next_id = field_dashboard(f, c.in_field(f.slug), ds, charts, next_id,
                                     c.group_labels["insgesamt"])
        dashboards.append(d)

    def dump(obj: dict) -> str:
        return yaml.dump(obj, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)

    out = {"metadata.yaml": dump({"version": "1.0.0", "type": "Dashboard", "timestamp": TIMESTAMP})}
    for db in (pg, duck):
        out[f"databases/{_slug(db['database_name'])}.yaml"] = dump(db)
    for d_ in (*ds.values(), duck_values):
        db_name = PG_DB_NAME if d_["database_uuid"] == pg["uuid"] else DUCK_DB_NAME
        out[f"datasets/{_slug(db_name)}/{d_['table_name']}.yaml"] = dump(d_)
    for ch in charts:
        out[f"charts/{ch['uuid']}.yaml"] = dump(ch)
    for d_ in dashboards:
        out[f"dashboards/{d_['slug']}.yaml"] = dump(d_)
    return out


def write(target: Path = BUNDLE_DIR) -> None:
    for old in target.rglob("*.yaml"):
        old.unlink()
    for rel, text in build().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def drift(target: Path = BUNDLE_DIR) -> list[str]:
    """Files that differ between the catalogue and the committed bundle (empty: in sync)."""
    want = build()
    have = {p.relative_to(target).as_posix(): p.read_text(encoding="utf-8")
            for p in target.rglob("*.yaml")}
    return sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Superset-Dashboards aus dem Indikatorenkatalog erzeugen")
    p.add_argument("--check", action="store_true", help="nur prüfen, ob bi/superset aktuell ist")
    args = p.parse_args(argv)
    if args.check:
        stale = drift()
        for name in stale:
            print(f"veraltet: bi/superset/{name}")
        return 1 if stale else 0
    write()
    print(f"bi/superset neu erzeugt ({len(build())} Dateien)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
