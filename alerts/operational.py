"""Quantum operational alerts, written from the telemetry contract's metric names.

Each has a severity (page: someone must act now, the platform or a tenant is being hurt; ticket: act within
the working day; info: context for inhibition), a summary, a description and a runbook that ships in
docs/runbooks/. Backend-scoped alerts carry ``scope: backend`` so Alertmanager can silence them while the
backend is calibrating.
"""

from __future__ import annotations

from dataclasses import dataclass

from qtenancy.semconv import Metric

M = Metric


@dataclass(frozen=True)
class Operational:
    name: str
    expr: str
    hold: str
    severity: str
    summary: str
    description: str
    runbook: str
    backend_scoped: bool = False

    def rule(self, runbook_base: str) -> dict:
        labels = {"severity": self.severity, **({"scope": "backend"} if self.backend_scoped else {})}
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.hold,
            "labels": labels,
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{runbook_base}/{self.runbook}.md",
            },
        }


def _mean(metric: str, window: str) -> str:
    by = "sum by (tenant, backend)"
    return f"({by} (rate({metric}_sum[{window}])) / {by} (rate({metric}_count[{window}])))"


ALERTS = (
    Operational(
        "QtenancyCalibrationFailing",
        f'sum by (backend) (increase({M.CALIBRATION_RUNS}{{verdict="fail"}}[6h])) >= 2',
        "0m", "page",
        "{{$labels.backend}} failed calibration repeatedly in the last 6 hours",
        "Repeated calibration failures, not a single transient one: the backend drifts out of spec faster than "
        "recalibration brings it back, and jobs routed to it lose fidelity.",
        "calibration-failing", backend_scoped=True,
    ),
    Operational(
        "QtenancyBackendOutOfRotation",
        f"{M.BACKEND_IN_ROTATION} == 0",
        "10m", "ticket",
        "{{$labels.backend}} is out of rotation",
        "The scheduler no longer places jobs on the backend after failed recalibrations; capacity is reduced.",
        "backend-out-of-rotation", backend_scoped=True,
    ),
    Operational(
        "QtenancyBackendDown",
        f"{M.BACKEND_UP} == 0",
        "2m", "page",
        "{{$labels.backend}} is down",
        "The backend stopped serving: its running job failed and its queue was re-routed.",
        "backend-down",
    ),
    Operational(
        "QtenancyBackendCalibrating",
        f"{M.BACKEND_CALIBRATING} == 1",
        "0m", "info",
        "{{$labels.backend}} is calibrating",
        "Context for inhibition: backend-scoped alerts are silenced while the backend calibrates.",
        "backend-calibrating",
    ),
    Operational(
        "QtenancyQueueBacklog",
        f"sum by (backend) ({M.QUEUE_LENGTH}) > 500",
        "15m", "ticket",
        "more than 500 jobs wait for {{$labels.backend}}",
        "The backlog on the backend has stayed above 500 jobs for 15 minutes.",
        "queue-backlog", backend_scoped=True,
    ),
    Operational(
        "QtenancyQueueWaitHigh",
        f"histogram_quantile(0.95, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket[15m]))) "
        f"> on (tenant) 2 * {M.TENANT_QUEUE_WAIT_TARGET}",
        "15m", "ticket",
        "{{$labels.tenant}}'s p95 queue wait is over twice its target",
        "The tenant's jobs wait much longer than its queue-wait target (SLI M2) for a sustained period.",
        "queue-wait-high",
    ),
    Operational(
        "QtenancySchedulerStarvation",
        f"{M.QUEUE_OLDEST_AGE} > 3600",
        "5m", "page",
        "{{$labels.tenant}}'s oldest job has waited over an hour",
        "A tenant with work queued is not being scheduled: a misconfigured priority class or quota starves it.",
        "scheduler-starvation",
    ),
    Operational(
        "QtenancyTelemetryGap",
        f"sum by (backend) (increase({M.TELEMETRY_SPANS_DROPPED}[10m])) > 0",
        "5m", "ticket",
        "spans are being dropped on {{$labels.backend}}",
        "Lifecycle spans never reached the collector: jobs are incomplete (SLI M5) and cannot be audited.",
        "telemetry-gap",
    ),
    Operational(
        "QtenancyBillingDelta",
        f"abs(sum by (tenant) (increase({M.BILLED_SECONDS}[3h])) - sum by (tenant) (increase({M.BACKEND_BUSY}[3h]))) "
        f"/ sum by (tenant) (increase({M.BACKEND_BUSY}[3h])) > 0.2 "
        f"and sum by (tenant) (increase({M.BACKEND_BUSY}[3h])) > 1800",
        "30m", "ticket",
        "{{$labels.tenant}} is billed more than 20% away from its backend usage",
        "Over three hours with at least half an hour of backend time, billed seconds and traced backend seconds "
        "disagree by more than the meter's sampling can explain (SLI M6).",
        "billing-delta",
    ),
    Operational(
        "QtenancyFidelityBelowPrediction",
        f"{_mean(M.JOB_FIDELITY, '15m')} - {_mean(M.JOB_EXPECTED_FIDELITY, '15m')} < -0.02",
        "15m", "ticket",
        "{{$labels.tenant}}'s results on {{$labels.backend}} fall short of what calibration predicts",
        "Measured fidelity is below the calibration's prediction: a noisy neighbour in the control group or drift "
        "since the last calibration. `qtenancy slo report` names the suspect and the evidence.",
        "fidelity-below-prediction", backend_scoped=True,
    ),
)


def operational_group(runbook_base: str) -> dict:
    return {"name": "qtenancy-operational", "rules": [a.rule(runbook_base) for a in ALERTS]}
