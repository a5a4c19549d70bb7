"""The debug dashboard: one job by provenance ID (its trace in Tempo, its logs in Loki, its latency among its
tenant's as exemplars), calibration history, time against quota, and fidelity against the calibration's prediction
by backend and tenant."""

from __future__ import annotations

from contract.explore import explore_url, logs_query, trace_query
from contract.semconv import Metric as M
from dashboards.builder import LOKI, TEMPO, Link, Panel, Query, dashboard

T = 'tenant=~"$tenant"'
B = 'backend=~"$backend"'
PROVENANCE = "${provenance_id}"
JOB_TRACE = trace_query(PROVENANCE)
JOB_LOGS = logs_query(PROVENANCE)


def _mean(metric: str) -> str:
    by = "sum by (tenant, backend)"
    return f"{by} (rate({metric}_sum{{{T}, {B}}}[15m])) / {by} (rate({metric}_count{{{T}, {B}}}[15m]))"


def build() -> dict:
    links = (Link(f"Trace of {PROVENANCE} in Explore", explore_url(TEMPO.ref, {"queryType": "traceql", "query": JOB_TRACE})),
             Link(f"Logs of {PROVENANCE} in Explore", explore_url(LOKI.ref, {"expr": JOB_LOGS})))
    panels = [
        Panel(f"Trace of job {PROVENANCE}", "traces", (Query(JOB_TRACE, source=TEMPO),), width=14, height=10,
              description="Enter a provenance ID above: the job's trace (its trace ID is the provenance ID).",
              links=links),
        Panel(f"Logs of job {PROVENANCE}", "logs", (Query(JOB_LOGS, source=LOKI),), width=10, height=10,
              description="The job's log records, filtered on the provenance ID they carry.", links=links),
        Panel("Queue wait by tenant (exemplars link to traces)", "timeseries",
              (Query(f"histogram_quantile(0.5, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[5m])))",
                     "p50 {{tenant}}", exemplar=True),
               Query(f"histogram_quantile(0.99, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[5m])))",
                     "p99 {{tenant}}", exemplar=True)), unit="s", width=24,
              description="Each exemplar dot is one job: its trace_id is the provenance ID, linked to Tempo."),
        Panel("T1 by backend", "timeseries", (Query(f"{M.CALIBRATION_T1}{{{B}}}", "{{backend}}"),), unit="s", width=8),
        Panel("Gate errors by backend", "timeseries",
              (Query(f"{M.CALIBRATION_GATE_ERROR}{{{B}}}", "{{backend}} {{gate}}"),), unit="percentunit", width=8),
        Panel("Readout error by backend", "timeseries",
              (Query(f"{M.CALIBRATION_READOUT_ERROR}{{{B}}}", "{{backend}}"),), unit="percentunit", width=8),
        Panel("Backend time share against quota", "timeseries",
              (Query(f"sum by (tenant) (rate({M.BACKEND_BUSY}{{{T}}}[1h])) / scalar(sum(rate({M.BACKEND_BUSY}[1h])))",
                     "share {{tenant}}"),
               Query(f"{M.TENANT_QUOTA}{{{T}}}", "quota {{tenant}}")), unit="percentunit", width=12),
        Panel("Measured minus predicted fidelity", "points",
              (Query(f"{_mean(M.JOB_FIDELITY)} - ({_mean(M.JOB_EXPECTED_FIDELITY)})", "{{tenant}} on {{backend}}"),),
              width=12, description="Below zero: results worse than calibration predicts (noisy neighbour or drift)."),
        Panel("Concurrent activity by tenant and backend", "points",
              (Query(f"sum by (tenant, backend) ({M.RUNNING_JOBS}{{{T}, {B}}})", "{{tenant}} on {{backend}}"),), width=12),
        Panel("Mean fidelity by backend", "timeseries",
              (Query(f"sum by (backend) (rate({M.JOB_FIDELITY}_sum{{{B}}}[15m])) "
                     f"/ sum by (backend) (rate({M.JOB_FIDELITY}_count{{{B}}}[15m]))", "{{backend}}"),),
              unit="percentunit", width=12),
    ]
    provenance = {"name": "provenance_id", "label": "Provenance ID", "type": "textbox", "query": "", "hide": 0,
                  "current": {"text": "", "value": ""}, "options": []}
    return dashboard("qtenancy-debug", "qtenancy / Debug", "One job, one backend, one tenant at a time.", panels,
                     extra_variables=[provenance])
