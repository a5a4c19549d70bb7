"""Grafana dashboards generated with grafanalib (see DESIGN.md)."""
