"""The BI layer: Apache Superset dashboards as code on the published marts (README, "BI")."""
