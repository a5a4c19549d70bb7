"""Panels described as data, placed on Grafana's 24-column grid, and turned into grafanalib objects.

Every query uses only the telemetry contract's metrics and the generated recording rules, filtered by the
dashboard's template variables; the tests hold every name to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grafanalib import core as g

DATASOURCE = "Prometheus"
WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


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
    links: tuple[tuple[str, str], ...] = ()
    overrides: tuple[dict, ...] = field(default_factory=tuple)


def _targets(panel: Panel) -> list[g.Target]:
    return [
        g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
        for i, q in enumerate(panel.queries)
    ]


def _thresholds(panel: Panel) -> list[g.Threshold]:
    return [g.Threshold(color, i, value=0.0 if value is None else value) for i, (color, value) in enumerate(panel.thresholds)]


def _build(panel: Panel, position: g.GridPos):
    common = {
        "title": panel.title, "dataSource": DATASOURCE, "targets": _targets(panel), "gridPos": position,
        "description": panel.description, "links": [g.DataLink(title, url).to_json_data() for title, url in panel.links],
    }
    if panel.kind == "stat":
        return g.Stat(**common, format=panel.unit, thresholds=_thresholds(panel), reduceCalc="lastNotNull")
    if panel.kind == "table":
        return g.Table(**common, unit=panel.unit)
    if panel.kind == "points":
        return g.TimeSeries(**common, unit=panel.unit, drawStyle="points", pointSize=4, thresholds=_thresholds(panel))
    return g.TimeSeries(**common, unit=panel.unit, thresholds=_thresholds(panel), legendDisplayMode="table",
                        legendPlacement="right", legendCalcs=["lastNotNull", "max"])


def layout(panels: list[Panel]) -> list:
    """Left to right, wrapping at 24 columns; a row is as tall as its tallest panel."""
    placed, x, y, row_height = [], 0, 0, 0
    for panel in panels:
        if x + panel.width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(_build(panel, g.GridPos(h=panel.height, w=panel.width, x=x, y=y)))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def variables() -> g.Templating:
    def query(name: str, metric: str, label: str) -> g.Template:
        return g.Template(name=name, label=label, query=f"label_values({metric}, {name})", dataSource=DATASOURCE,
                          includeAll=True, multi=True, allValue=".*", refresh=2, sort=1, default="$__all")

    return g.Templating(list=[
        query("tenant", "qtenancy_tenant_info", "Tenant"),
        query("namespace", "qtenancy_tenant_info", "Namespace"),
        query("backend", "qtenancy_backend_info", "Backend"),
    ])


def dashboard(uid: str, title: str, description: str, panels: list[Panel], extra_variables: list[g.Template] = (),
              annotations: list[dict] = ()) -> g.Dashboard:
    templating = variables()
    templating.list.extend(extra_variables)
    return g.Dashboard(
        title=title, uid=uid, description=description, tags=["qtenancy"], timezone="utc", refresh="1m",
        time=g.Time("now-24h", "now"), templating=templating, panels=layout(panels),
        annotations=g.Annotations(list=list(annotations)), sharedCrosshair=True,
    ).auto_panel_ids()
