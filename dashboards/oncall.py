"""The on-call dashboard: what is wrong right now, where, since when, and which runbook to open."""

from __future__ import annotations

import re

from contract.alert_catalogue import (
    OPERATIONAL,
    RUNBOOK_BASE,
    SLO_BURN_RUNBOOK,
    SLO_BURN_SUFFIX,
    STARVATION,
    default_burn_windows,
)
from contract.semconv import Metric as M
from dashboards.builder import Panel, Query, dashboard

T = 'tenant=~"$tenant"'
B = 'backend=~"$backend"'
BURN = default_burn_windows()
PAGE_FAST = BURN.page_quick.factor(BURN.period_seconds)
PAGE_SLOW = BURN.page_slow.factor(BURN.period_seconds)

ANNOTATIONS = [
    {"name": "Calibration runs", "enable": True, "iconColor": "blue",
     "expr": f"changes({M.CALIBRATION_RUNS}{{{B}}}[2m]) > 0", "titleFormat": "calibration {{backend}} {{verdict}}",
     "step": "60s"},
    {"name": "Incidents (pages)", "enable": True, "iconColor": "red",
     "expr": 'ALERTS{alertstate="firing", severity="page"}', "titleFormat": "{{alertname}}", "step": "60s"},
]


def firing_with_runbooks() -> str:
    """Firing alerts with a ``runbook`` label from the alert catalogue, for the table's link column."""
    expr = 'ALERTS{alertstate="firing"}'
    for alert in OPERATIONAL:
        expr = f'label_replace({expr}, "runbook", "{alert.runbook}", "alertname", "{re.escape(alert.name)}")'
    return f'label_replace({expr}, "runbook", "{SLO_BURN_RUNBOOK}", "alertname", ".+{SLO_BURN_SUFFIX}")'


RUNBOOK_COLUMN = {
    "matcher": {"id": "byName", "options": "runbook"},
    "properties": [{"id": "links", "value": [
        {"title": "Open the runbook", "url": f"{RUNBOOK_BASE}/${{__value.raw}}.md", "targetBlank": True}]}],
}
TARGET_LINES = {
    "matcher": {"id": "byRegexp", "options": "target .*"},
    "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
}


def build() -> dict:
    panels = [
        Panel("Firing alerts", "table", (Query(firing_with_runbooks()),), width=24, height=7,
              description="One row per firing alert; the runbook column opens its runbook.",
              overrides=(RUNBOOK_COLUMN,)),
        Panel("Queue length by backend", "timeseries",
              (Query(f"sum by (backend) ({M.QUEUE_LENGTH}{{{B}, {T}}})", "{{backend}}"),), width=12),
        Panel("Oldest waiting job by tenant", "timeseries",
              (Query(f"{M.QUEUE_OLDEST_AGE}{{{T}}}", "{{tenant}}"),), unit="s", width=12,
              thresholds=(("green", None), ("red", STARVATION.bound_seconds)), show_thresholds=True),
        Panel("Running jobs by tenant", "timeseries",
              (Query(f"sum by (tenant) ({M.RUNNING_JOBS}{{{T}, {B}}})", "{{tenant}}"),), width=12),
        Panel("Queue wait p95 by tenant, against each tenant's target", "timeseries",
              (Query(f"histogram_quantile(0.95, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[15m])))",
                     "{{tenant}}"),
               Query(f"{M.TENANT_QUEUE_WAIT_TARGET}{{{T}}}", "target {{tenant}}")), unit="s", width=12,
              description="Dashed: the tenant's queue-wait target (SLI M2).", overrides=(TARGET_LINES,)),
        Panel("Calibration failures, last hour", "timeseries",
              (Query(f'sum by (backend) (increase({M.CALIBRATION_RUNS}{{verdict="fail", {B}}}[1h]))', "{{backend}}"),),
              width=12),
        Panel("Burn rates (1h window)", "timeseries",
              (Query("slo:sli_error:ratio_rate1h / on (sloth_id, sloth_slo, sloth_service) group_left "
                     "slo:error_budget:ratio", "{{sloth_slo}} {{tenant}}{{backend}}"),),
              unit="x", width=12, thresholds=(("green", None), ("orange", PAGE_SLOW), ("red", PAGE_FAST)),
              show_thresholds=True),
        Panel("Spans dropped, last 10 minutes", "timeseries",
              (Query(f"sum by (backend) (increase({M.TELEMETRY_SPANS_DROPPED}{{{B}}}[10m]))", "{{backend}}"),), width=12),
        Panel("Backends down, calibrating, out of rotation", "timeseries",
              (Query(f"1 - {M.BACKEND_UP}{{{B}}}", "down {{backend}}"),
               Query(f"{M.BACKEND_CALIBRATING}{{{B}}}", "calibrating {{backend}}"),
               Query(f"1 - {M.BACKEND_IN_ROTATION}{{{B}}}", "out {{backend}}")), width=12),
    ]
    return dashboard("qtenancy-oncall", "qtenancy / On-call", "What is burning now, where, and since when.", panels,
                     annotations=ANNOTATIONS)
