"""The executive dashboard: is the platform keeping its promises, who uses it, what is billed, is the hardware well."""

from __future__ import annotations

from contract.semconv import Metric as M
from dashboards.builder import Panel, Query, dashboard

T = 'tenant=~"$tenant"'
B = 'backend=~"$backend"'
N = 'namespace=~"$namespace"'
PLATFORM = 'sloth_slo="job-success-platform"'


def build() -> dict:
    panels = [
        Panel("Job success, 30 days", "stat", (Query(f"1 - slo:sli_error:ratio_rate30d{{{PLATFORM}}}"),),
              unit="percentunit", width=6, height=6, thresholds=(("red", None), ("orange", 0.95), ("green", 0.99)),
              description="SLI M1, platform-wide, from the Sloth-compatible recording rules; objective 99%."),
        Panel("Error budget remaining", "stat", (Query(f"slo:period_error_budget_remaining:ratio{{{PLATFORM}}}"),),
              unit="percentunit", width=6, height=6, thresholds=(("red", None), ("orange", 0.25), ("green", 0.5))),
        Panel("Budget burn rate now", "stat", (Query(f"slo:current_burn_rate:ratio{{{PLATFORM}}}"),),
              unit="x", width=6, height=6, thresholds=(("green", None), ("orange", 1.0), ("red", 6.0))),
        Panel("Backends up and in rotation", "stat",
              (Query(f"sum({M.BACKEND_UP}{{{B}}} * {M.BACKEND_IN_ROTATION}{{{B}}})"),),
              width=6, height=6, thresholds=(("red", None), ("green", 1.0))),
        Panel("Job success by tenant, 30 days", "timeseries",
              (Query(f'1 - slo:sli_error:ratio_rate30d{{sloth_slo="job-success-tenant", {T}}}', "{{tenant}}"),),
              unit="percentunit", width=12, description="Each point: the tenant's SLI M1 over the 30 days before it."),
        Panel("Error budget burn", "timeseries",
              (Query('slo:current_burn_rate:ratio{sloth_slo=~"job-success.*"}', "{{sloth_slo}} {{tenant}}"),),
              unit="x", width=12, thresholds=(("green", None), ("red", 14.4))),
        Panel("Backend time by tenant, per day", "timeseries",
              (Query(f"sum by (tenant) (increase({M.BACKEND_BUSY}{{{T}, {B}}}[1d]))", "{{tenant}}"),),
              unit="s", width=12, description="Trace-derived usage (SLI M7's numerator)."),
        Panel("Jobs closed by namespace, per day", "timeseries",
              (Query(f"sum by (namespace) (increase({M.JOBS}{{{N}, {T}, {B}}}[1d]))",
                     "{{namespace}}"),), width=12),
        Panel("Billed seconds by tenant, per day", "timeseries",
              (Query(f"sum by (tenant) (increase({M.BILLED_SECONDS}{{{T}, {B}}}[1d]))", "{{tenant}}"),),
              unit="s", width=12, description="Billing trend; compare with backend time beside it (SLI M6)."),
        Panel("Calibration pass rate, 1 day", "timeseries",
              (Query(f'sum by (backend) (increase({M.CALIBRATION_RUNS}{{verdict="pass", {B}}}[1d])) '
                     f"/ sum by (backend) (increase({M.CALIBRATION_RUNS}{{{B}}}[1d]))", "{{backend}}"),),
              unit="percentunit", width=12, description="Hardware health: SLI M4 per backend."),
        Panel("Two-qubit gate error", "timeseries",
              (Query(f'{M.CALIBRATION_GATE_ERROR}{{gate="2q", {B}}}', "{{backend}}"),), unit="percentunit", width=12),
    ]
    return dashboard("qtenancy-executive", "qtenancy / Executive",
                     "SLOs, budgets, usage, billing and hardware health of the quantum cloud.", panels,
                     time_from="now-30d")
