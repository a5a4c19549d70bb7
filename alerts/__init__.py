"""Sloth-compatible Prometheus rules and Alertmanager configuration (see DESIGN.md)."""
