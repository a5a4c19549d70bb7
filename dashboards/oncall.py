"""The on-call dashboard: what is wrong right now, where, and since when."""

from __future__ import annotations

from contract.alert_catalogue import STARVATION
from contract.semconv import Metric as M
from dashboards.builder import DATASOURCE, Panel, Query, dashboard

T = 'tenant=~"$tenant"'
B = 'backend=~"$backend"'

ANNOTATIONS = [
    {"name": "Calibration runs", "datasource": DATASOURCE, "enable": True, "iconColor": "blue",
     "expr": f"changes({M.CALIBRATION_RUNS}{{{B}}}[2m]) > 0", "titleFormat": "calibration {{backend}} {{verdict}}",
     "step": "60s"},
    {"name": "Incidents (pages)", "datasource": DATASOURCE, "enable": True, "iconColor": "red",
     "expr": 'ALERTS{alertstate="firing", severity="page"}', "titleFormat": "{{alertname}}", "step": "60s"},
]


def build():
    panels = [
        Panel("Firing alerts", "table", (Query('ALERTS{alertstate="firing"}'),), width=24, height=7),
        Panel("Queue length by backend", "timeseries",
              (Query(f"sum by (backend) ({M.QUEUE_LENGTH}{{{B}, {T}}})", "{{backend}}"),), width=12),
        Panel("Oldest waiting job by tenant", "timeseries",
              (Query(f"{M.QUEUE_OLDEST_AGE}{{{T}}}", "{{tenant}}"),), unit="s", width=12,
              thresholds=(("green", None), ("red", STARVATION.bound_seconds))),
        Panel("Running jobs by tenant", "timeseries",
              (Query(f"sum by (tenant) ({M.RUNNING_JOBS}{{{T}, {B}}})", "{{tenant}}"),), width=12),
        Panel("Queue wait p95 by tenant", "timeseries",
              (Query(f"histogram_quantile(0.95, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[15m])))",
                     "{{tenant}}"),), unit="s", width=12),
        Panel("Calibration failures, last hour", "timeseries",
              (Query(f'sum by (backend) (increase({M.CALIBRATION_RUNS}{{verdict="fail", {B}}}[1h]))', "{{backend}}"),),
              width=12),
        Panel("Burn rates (1h window)", "timeseries",
              (Query("slo:sli_error:ratio_rate1h / on (sloth_id, sloth_slo, sloth_service) group_left "
                     "slo:error_budget:ratio", "{{sloth_slo}} {{tenant}}{{backend}}"),),
              unit="x", width=12, thresholds=(("green", None), ("orange", 6.0), ("red", 14.4))),
        Panel("Spans dropped, last 10 minutes", "timeseries",
              (Query(f"sum by (backend) (increase({M.TELEMETRY_SPANS_DROPPED}{{{B}}}[10m]))", "{{backend}}"),), width=12),
        Panel("Backends down, calibrating, out of rotation", "timeseries",
              (Query(f"1 - {M.BACKEND_UP}{{{B}}}", "down {{backend}}"),
               Query(f"{M.BACKEND_CALIBRATING}{{{B}}}", "calibrating {{backend}}"),
               Query(f"1 - {M.BACKEND_IN_ROTATION}{{{B}}}", "out {{backend}}")), width=12),
    ]
    return dashboard("qtenancy-oncall", "qtenancy / On-call", "What is burning now, where, and since when.", panels,
                     annotations=ANNOTATIONS)
