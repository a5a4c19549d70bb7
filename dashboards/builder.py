"""Panels described as data, placed on Grafana's 24-column grid, and written in Grafana's current dashboard model.

The model is the one Grafana's own generated JSON schema describes (schemaVersion below: the last version of
Grafana's schema migrator, so Grafana migrates nothing on load). grafanalib 0.7 still writes the pre-8 model (rows,
spans, string data sources, graph-panel thresholds) that this schema refuses, so the JSON is written here directly.
Data sources are template variables filled from ``__inputs`` on import, so a board imports into any Grafana
whatever its data sources are called.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 43
"""apps/dashboard/pkg/migration/schemaversion LATEST_VERSION in grafana/grafana: no migration runs on load."""
WIDTH = 24
TAG = "qtenancy"


@dataclass(frozen=True)
class Source:
    """A data source the board reads, as a ``datasource`` variable and the import input that fills it."""

    variable: str
    plugin: str
    label: str

    @property
    def ref(self) -> dict:
        return {"type": self.plugin, "uid": f"${{{self.variable}}}"}

    @property
    def input_name(self) -> str:
        return f"DS_{self.label.upper()}"


PROMETHEUS = Source("datasource", "prometheus", "Prometheus")
TEMPO = Source("tempo", "tempo", "Tempo")
LOKI = Source("loki", "loki", "Loki")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    exemplar: bool = False
    source: Source = PROMETHEUS

    def target(self, ref_id: str) -> dict:
        target = {"refId": ref_id, "datasource": self.source.ref}
        if self.source is TEMPO:
            return target | {"queryType": "traceql", "query": self.expr, "limit": 20}
        target |= {"expr": self.expr}
        if self.source is PROMETHEUS:
            target |= {"legendFormat": self.legend, "range": True, "exemplar": self.exemplar}
        return target


@dataclass(frozen=True)
class Link:
    title: str
    url: str

    def to_json(self) -> dict:
        """A panel link in the schema's ``DashboardLink`` form."""
        return {"title": self.title, "type": "link", "url": self.url, "icon": "external link", "tooltip": self.title,
                "tags": [], "asDropdown": False, "targetBlank": True, "includeVars": False, "keepTime": True}


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)
    links: tuple[Link, ...] = ()
    overrides: tuple[dict, ...] = ()
    show_thresholds: bool = False

    @property
    def sources(self) -> set[Source]:
        return {q.source for q in self.queries}


def _field_config(panel: Panel) -> dict:
    steps = [{"color": color, "value": value} for color, value in panel.thresholds]
    defaults = {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if panel.kind in ("timeseries", "points"):
        style = "dashed" if panel.show_thresholds else "off"
        defaults["custom"] = {"drawStyle": "points" if panel.kind == "points" else "line", "pointSize": 4,
                              "spanNulls": False, "thresholdsStyle": {"mode": style}}
    return {"defaults": defaults, "overrides": list(panel.overrides)}


def _options(panel: Panel) -> dict:
    if panel.kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"}
    if panel.kind in ("timeseries", "points"):
        return {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"],
                           "showLegend": True}, "tooltip": {"mode": "multi", "sort": "desc"}}
    if panel.kind == "logs":
        return {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"}
    return {}


def _panel(panel: Panel, panel_id: int, position: dict) -> dict:
    (source,) = panel.sources
    return {
        "id": panel_id, "type": "timeseries" if panel.kind == "points" else panel.kind, "title": panel.title,
        "description": panel.description, "datasource": source.ref, "gridPos": position,
        "targets": [q.target(chr(ord("A") + i)) for i, q in enumerate(panel.queries)],
        "fieldConfig": _field_config(panel), "options": _options(panel), "links": [link.to_json() for link in panel.links],
    }


def layout(panels: list[Panel]) -> list[dict]:
    """Left to right, wrapping at 24 columns; a row is as tall as its tallest panel; ids in order."""
    placed, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(_panel(panel, number, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def source_variable(source: Source) -> dict:
    return {"name": source.variable, "label": f"{source.label} data source", "type": "datasource",
            "query": source.plugin, "current": {"text": source.label, "value": f"${{{source.input_name}}}"},
            "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False}


def query_variable(name: str, label: str, query: str) -> dict:
    """A multi-value variable over ``label_values``; All matches every value."""
    return {"name": name, "label": label, "type": "query", "datasource": PROMETHEUS.ref,
            "query": query, "definition": query,
            "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1, "hide": 0, "regex": "",
            "current": {"text": ["All"], "value": ["$__all"]}, "options": []}


def scope_variables() -> list[dict]:
    return [
        query_variable("namespace", "Namespace", "label_values(qtenancy_tenant_info, namespace)"),
        query_variable("tenant", "Tenant", 'label_values(qtenancy_tenant_info{namespace=~"$namespace"}, tenant)'),
        query_variable("backend", "Backend", "label_values(qtenancy_backend_info, backend)"),
    ]


def _inputs(sources: list[Source]) -> tuple[list[dict], list[dict]]:
    inputs = [{"name": s.input_name, "label": s.label, "description": "", "type": "datasource", "pluginId": s.plugin,
               "pluginName": s.label} for s in sources]
    requires = [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "12.0.0"}]
    requires += [{"type": "datasource", "id": s.plugin, "name": s.label, "version": "1.0.0"} for s in sources]
    return inputs, requires


def dashboard(uid: str, title: str, description: str, panels: list[Panel], extra_variables: list[dict] = (),
              annotations: list[dict] = (), time_from: str = "now-24h") -> dict:
    sources = sorted({s for p in panels for s in p.sources}, key=lambda s: (s is not PROMETHEUS, s.variable))
    inputs, requires = _inputs(sources)
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
               "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {
        "__inputs": inputs, "__requires": requires,
        "uid": uid, "title": title, "description": description, "tags": [TAG], "timezone": "utc",
        "editable": True, "graphTooltip": 1, "refresh": "1m", "schemaVersion": SCHEMA_VERSION, "version": 1,
        "time": {"from": time_from, "to": "now"}, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "links": [{"title": "qtenancy dashboards", "type": "dashboards", "tags": [TAG], "asDropdown": False,
                   "icon": "external link", "tooltip": "", "url": "", "targetBlank": False, "includeVars": True,
                   "keepTime": True}],
        "templating": {"list": [source_variable(s) for s in sources] + scope_variables() + list(extra_variables)},
        "annotations": {"list": [builtin] + [a | {"datasource": PROMETHEUS.ref} for a in annotations]},
        "panels": layout(panels),
    }
