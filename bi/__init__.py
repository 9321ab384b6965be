"""The BI layer: Apache Superset dashboards as code on the published marts (docs/bi.md)."""
