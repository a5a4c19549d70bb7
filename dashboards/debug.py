"""The debug dashboard: one job by provenance ID (its trace and logs), calibration history, time against quota,
and fidelity against the calibration's prediction by backend and tenant."""

from __future__ import annotations

from grafanalib import core as g

from contract.semconv import Metric as M
from dashboards.builder import Panel, Query, dashboard

T = 'tenant=~"$tenant"'
B = 'backend=~"$backend"'
TRACE = "/explore?left=" + '{"datasource":"Tempo","queries":[{"query":"${provenance_id}","queryType":"traceql"}]}'
LOGS = "/explore?left=" + ('{"datasource":"Loki","queries":[{"expr":"{service_name=\\"qtenancy-broker\\"} '
                           '| qtenancy_provenance_id=\\"${provenance_id}\\""}]}')


def _mean(metric: str) -> str:
    by = "sum by (tenant, backend)"
    return f"{by} (rate({metric}_sum{{{T}, {B}}}[15m])) / {by} (rate({metric}_count{{{T}, {B}}}[15m]))"


def build():
    panels = [
        Panel("Job ${provenance_id}", "stat",
              (Query(f'count(count_over_time({{__name__=~"{M.QUEUE_WAIT}_bucket|{M.SUBMIT_TO_RESULT}_bucket", {T}}}[5m]))'),),
              width=24, height=4,
              description="Enter a provenance ID above: the links open its trace in Tempo and its logs in Loki. "
                          "The latency histograms carry it as an exemplar (trace_id).",
              links=(("Trace of ${provenance_id}", TRACE), ("Logs of ${provenance_id}", LOGS))),
        Panel("Queue wait by tenant (exemplars link to traces)", "timeseries",
              (Query(f"histogram_quantile(0.5, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[5m])))",
                     "p50 {{tenant}}"),
               Query(f"histogram_quantile(0.99, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket{{{T}}}[5m])))",
                     "p99 {{tenant}}")), unit="s", width=24),
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
    provenance = g.Template(name="provenance_id", label="Provenance ID", query="", type="textbox", default="")
    return dashboard("qtenancy-debug", "qtenancy / Debug", "One job, one backend, one tenant at a time.", panels,
                     extra_variables=[provenance])
