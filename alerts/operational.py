"""Quantum operational alerts, written from the telemetry contract's metric names and the alert catalogue.

Each has a severity (page: someone must act now, the platform or a tenant is being hurt; ticket: act within
the working day; info: context for inhibition), a summary, a description and a runbook that ships in
docs/runbooks/. Names, severities, holds and thresholds come from ``contract/alert_catalogue.py``, which the
incidents found from the jobs table read too. Backend-scoped alerts carry ``scope: backend`` so
Alertmanager can silence them while the backend is calibrating.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.alert_catalogue import (
    BACKEND_CALIBRATING,
    BACKEND_DOWN,
    BACKEND_OUT_OF_ROTATION,
    BILLING,
    BILLING_DELTA,
    CALIBRATION,
    CALIBRATION_FAILING,
    FIDELITY,
    FIDELITY_BELOW_PREDICTION,
    QUEUE,
    QUEUE_BACKLOG,
    QUEUE_WAIT_HIGH,
    SCHEDULER_STARVATION,
    STARVATION,
    TELEMETRY_GAP,
    Alert,
)
from contract.durations import format_duration
from contract.semconv import Metric

M = Metric


@dataclass(frozen=True)
class Operational:
    alert: Alert
    expr: str
    summary: str
    description: str

    @property
    def name(self) -> str:
        return self.alert.name

    @property
    def severity(self) -> str:
        return self.alert.severity.value

    @property
    def hold(self) -> str:
        return self.alert.hold

    @property
    def runbook(self) -> str:
        return self.alert.runbook

    @property
    def backend_scoped(self) -> bool:
        return self.alert.backend_scoped

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


_BILLING = format_duration(BILLING.window_seconds)
_FIDELITY = format_duration(FIDELITY.window_seconds)

ALERTS = (
    Operational(
        CALIBRATION_FAILING,
        f'sum by (backend) (increase({M.CALIBRATION_RUNS}{{verdict="fail"}}[{format_duration(CALIBRATION.within_seconds)}]))'
        f" >= {CALIBRATION.failures}",
        "{{$labels.backend}} failed calibration repeatedly in the last 6 hours",
        "Repeated calibration failures, not a single transient one: the backend drifts out of spec faster than "
        "recalibration brings it back, and jobs routed to it lose fidelity.",
    ),
    Operational(
        BACKEND_OUT_OF_ROTATION,
        f"{M.BACKEND_IN_ROTATION} == 0",
        "{{$labels.backend}} is out of rotation",
        "The scheduler no longer places jobs on the backend after failed recalibrations; capacity is reduced.",
    ),
    Operational(
        BACKEND_DOWN,
        f"{M.BACKEND_UP} == 0",
        "{{$labels.backend}} is down",
        "The backend stopped serving: its running job failed and its queue was re-routed.",
    ),
    Operational(
        BACKEND_CALIBRATING,
        f"{M.BACKEND_CALIBRATING} == 1",
        "{{$labels.backend}} is calibrating",
        "Context for inhibition: backend-scoped alerts are silenced while the backend calibrates.",
    ),
    Operational(
        QUEUE_BACKLOG,
        f"sum by (backend) ({M.QUEUE_LENGTH}) > {QUEUE.backlog_jobs}",
        f"more than {QUEUE.backlog_jobs} jobs wait for {{{{$labels.backend}}}}",
        f"The backlog on the backend has stayed above {QUEUE.backlog_jobs} jobs for {QUEUE_BACKLOG.hold.removesuffix('m')} "
        "minutes.",
    ),
    Operational(
        QUEUE_WAIT_HIGH,
        f"histogram_quantile({QUEUE.wait_quantile:g}, sum by (tenant, le) (rate({M.QUEUE_WAIT}_bucket[15m]))) "
        f"> on (tenant) {QUEUE.wait_target_multiple:g} * {M.TENANT_QUEUE_WAIT_TARGET}",
        "{{$labels.tenant}}'s p95 queue wait is over twice its target",
        "The tenant's jobs wait much longer than its queue-wait target (SLI M2) for a sustained period.",
    ),
    Operational(
        SCHEDULER_STARVATION,
        f"{M.QUEUE_OLDEST_AGE} > {STARVATION.bound_seconds:g}",
        "{{$labels.tenant}}'s oldest job has waited over an hour",
        "A tenant with work queued is not being scheduled: a misconfigured priority class or quota starves it.",
    ),
    Operational(
        TELEMETRY_GAP,
        f"sum by (backend) (increase({M.TELEMETRY_SPANS_DROPPED}[10m])) > 0",
        "spans are being dropped on {{$labels.backend}}",
        "Lifecycle spans never reached the collector: jobs are incomplete (SLI M5) and cannot be audited.",
    ),
    Operational(
        BILLING_DELTA,
        f"abs(sum by (tenant) (increase({M.BILLED_SECONDS}[{_BILLING}])) - sum by (tenant) "
        f"(increase({M.BACKEND_BUSY}[{_BILLING}]))) / sum by (tenant) (increase({M.BACKEND_BUSY}[{_BILLING}])) "
        f"> {BILLING.relative_bound:g} and sum by (tenant) (increase({M.BACKEND_BUSY}[{_BILLING}])) "
        f"> {BILLING.volume_floor_seconds:g}",
        f"{{{{$labels.tenant}}}} is billed more than {BILLING.relative_bound:.0%} away from its backend usage",
        "Over three hours with at least half an hour of backend time, billed seconds and traced backend seconds "
        "disagree by more than the meter's sampling can explain (SLI M6).",
    ),
    Operational(
        FIDELITY_BELOW_PREDICTION,
        f"{_mean(M.JOB_FIDELITY, _FIDELITY)} - {_mean(M.JOB_EXPECTED_FIDELITY, _FIDELITY)} < {-FIDELITY.shortfall:g}",
        "{{$labels.tenant}}'s results on {{$labels.backend}} fall short of what calibration predicts",
        "Measured fidelity is below the calibration's prediction: a noisy neighbour in the control group or drift "
        "since the last calibration. `qtenancy slo report` names the suspect and the evidence.",
    ),
)


def operational_group(runbook_base: str) -> dict:
    return {"name": "qtenancy-operational", "rules": [a.rule(runbook_base) for a in ALERTS]}
