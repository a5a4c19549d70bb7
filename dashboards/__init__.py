"""Grafana dashboards in Grafana's current JSON model (see docs/design.md)."""
