"""The alerts both paths raise, written once: names, severities, scopes, thresholds and burn windows.

The real-time path (``alerts/``: Prometheus rules) and the analytical path (``slo/``: incidents from the
jobs table) read every fact here, so a threshold or a window changed here changes both, and an alert the
rules fire is an alert the incident list names. Nothing else in the code spells an alert's name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from contract.durations import parse_duration

RUNBOOK_BASE = "https://github.com/qtenancy/qtenancy/blob/main/docs/runbooks"
"""Where docs/runbooks is published; every alert's ``runbook_url`` points into it."""
SLO_BURN_SUFFIX = "ErrorBudgetBurn"
"""Every SLO's burn alert is named after the SLO with this suffix (``JobSuccessPlatformErrorBudgetBurn``)."""
SLO_BURN_RUNBOOK = "slo-burn"
"""The runbook every SLO burn alert links to."""
HOUR = 3600.0
DAY = 24 * HOUR


class Severity(StrEnum):
    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


@dataclass(frozen=True)
class Alert:
    """One alert: ``hold`` is its Prometheus ``for``; a backend-scoped alert is silenced while the backend
    calibrates (Alertmanager inhibits it by its ``scope: backend`` label)."""

    name: str
    severity: Severity
    hold: str
    runbook: str
    backend_scoped: bool = False


CALIBRATION_FAILING = Alert("QtenancyCalibrationFailing", Severity.PAGE, "0m", "calibration-failing", True)
BACKEND_OUT_OF_ROTATION = Alert("QtenancyBackendOutOfRotation", Severity.TICKET, "10m", "backend-out-of-rotation",
                                True)
BACKEND_DOWN = Alert("QtenancyBackendDown", Severity.PAGE, "2m", "backend-down")
BACKEND_CALIBRATING = Alert("QtenancyBackendCalibrating", Severity.INFO, "0m", "backend-calibrating")
QUEUE_BACKLOG = Alert("QtenancyQueueBacklog", Severity.TICKET, "15m", "queue-backlog", True)
QUEUE_WAIT_HIGH = Alert("QtenancyQueueWaitHigh", Severity.TICKET, "15m", "queue-wait-high")
SCHEDULER_STARVATION = Alert("QtenancySchedulerStarvation", Severity.PAGE, "5m", "scheduler-starvation")
TELEMETRY_GAP = Alert("QtenancyTelemetryGap", Severity.TICKET, "5m", "telemetry-gap")
BILLING_DELTA = Alert("QtenancyBillingDelta", Severity.TICKET, "30m", "billing-delta")
FIDELITY_BELOW_PREDICTION = Alert("QtenancyFidelityBelowPrediction", Severity.TICKET, "15m",
                                  "fidelity-below-prediction", True)
OPERATIONAL = (CALIBRATION_FAILING, BACKEND_OUT_OF_ROTATION, BACKEND_DOWN, BACKEND_CALIBRATING, QUEUE_BACKLOG,
               QUEUE_WAIT_HIGH, SCHEDULER_STARVATION, TELEMETRY_GAP, BILLING_DELTA, FIDELITY_BELOW_PREDICTION)


def runbook_for(alert: str) -> str:
    """The runbook (a file name in docs/runbooks, without .md) of an operational or SLO burn alert."""
    by_name = {a.name: a.runbook for a in OPERATIONAL}
    if alert in by_name:
        return by_name[alert]
    if alert.endswith(SLO_BURN_SUFFIX):
        return SLO_BURN_RUNBOOK
    raise KeyError(f"{alert}: not an alert of the catalogue or an SLO burn alert")


@dataclass(frozen=True)
class CalibrationRule:
    """Repeated failures, not a single transient one: ``failures`` within ``within_seconds`` page."""

    failures: int = 2
    within_seconds: float = 6 * HOUR


@dataclass(frozen=True)
class StarvationRule:
    """A tenant whose oldest waiting job is older than ``bound_seconds`` for ``hold_seconds`` is starved."""

    bound_seconds: float = HOUR
    hold_seconds: float = parse_duration(SCHEDULER_STARVATION.hold)


@dataclass(frozen=True)
class BillingRule:
    """Billed against the tenant's usage. Real time, from the broker's counters (which cannot say what a
    sampling meter owes job by job): off by more than ``relative_bound`` over ``window_seconds`` once at least
    ``volume_floor_seconds`` of backend time was used. After the fact, against what the declared meter owes each
    traced job (``contract.billing``): within ``judged_seconds``, at least ``misbilled_jobs`` jobs misbilled by
    at least ``owed_share`` of what the tenant was owed billing for then, so a tenant of modest volume is judged
    by its own volume and found within the hour."""

    relative_bound: float = 0.2
    window_seconds: float = 3 * HOUR
    volume_floor_seconds: float = 1800.0
    owed_share: float = 0.05
    misbilled_jobs: int = 3
    judged_seconds: float = HOUR


@dataclass(frozen=True)
class QueueRule:
    backlog_jobs: int = 500
    wait_quantile: float = 0.95
    wait_target_multiple: float = 2.0


@dataclass(frozen=True)
class FidelityRule:
    """Measured fidelity below the calibration's prediction by more than ``shortfall`` (mean over 15 min)."""

    shortfall: float = 0.02
    window_seconds: float = 900.0


CALIBRATION = CalibrationRule()
STARVATION = StarvationRule()
BILLING = BillingRule()
QUEUE = QueueRule()
FIDELITY = FidelityRule()


@dataclass(frozen=True)
class BurnWindow:
    """Alert when ``budget_percent`` of the period's error budget would be spent within ``long_seconds``,
    checked over the long window and confirmed over the short one."""

    severity: Severity
    budget_percent: float
    short_seconds: float
    long_seconds: float
    fixed_factor: float | None = None
    """A burn rate stated outright (Pyrra's 14, 7, 2, 1) rather than derived from the budget share."""
    for_seconds: float = 0.0
    """How long the condition must hold before the alert fires (Pyrra's ``for``; Sloth has none)."""

    def factor(self, period_seconds: float) -> float:
        """The burn rate that spends that share in the long window, in Sloth's order of operations and units."""
        if self.fixed_factor is not None:
            return self.fixed_factor
        return (self.budget_percent / 100) * (period_seconds / 3600) / (self.long_seconds / 3600)


@dataclass(frozen=True)
class BurnWindows:
    """The multiwindow multi-burn-rate set of one SLO period: two page pairs and two ticket pairs."""

    period_seconds: float
    page_quick: BurnWindow
    page_slow: BurnWindow
    ticket_quick: BurnWindow
    ticket_slow: BurnWindow

    @property
    def pairs(self) -> tuple[BurnWindow, ...]:
        return self.page_quick, self.page_slow, self.ticket_quick, self.ticket_slow

    @property
    def sli_windows(self) -> list[float]:
        return sorted({w for b in self.pairs for w in (b.short_seconds, b.long_seconds)})

    def scaled(self, factor: float) -> BurnWindows:
        """Every window and the period times ``factor`` (the factors, ratios of the two, stay): what a
        Prometheus evaluating in wall time needs when the platform it watches runs ``1/factor`` times faster."""
        def one(w: BurnWindow) -> BurnWindow:
            return replace(w, short_seconds=w.short_seconds * factor, long_seconds=w.long_seconds * factor)

        return BurnWindows(self.period_seconds * factor, *(one(w) for w in self.pairs))


LOW_TRAFFIC_MIN_EVENTS = 20
"""A burn-rate alert of one of qtenancy's own SLOs fires only when its long window holds at least this many
events (a spec's ``min_events`` overrides it; 0 turns the guard off): with fewer, a single bad event is a
burn rate that pages. Both paths apply it, to the long window of each pair. Sloth's and OpenSLO's specs
have no such option, so their rules stay exactly what those tools generate."""


SLOTH_PERIODS = (28 * DAY, 30 * DAY)
"""The periods Sloth's default windows are written for; their window lengths stay as Sloth writes them."""


def default_burn_windows(period_seconds: float = 30 * DAY) -> BurnWindows:
    """The SRE Workbook's set, as Sloth's defaults: 2% of the budget in 1h, 5% in 6h, 10% in 1d and in 3d. For a
    period other than Sloth's, the windows scale with the period (as Pyrra's do), to the minute and no shorter
    than one, so a day-long SLO pages on a burn of 14.4 over 2 minutes, not on 0.48 over an hour."""
    scale = 1.0 if period_seconds in SLOTH_PERIODS else period_seconds / (30 * DAY)

    def length(seconds: float) -> float:
        return seconds if scale == 1.0 else max(60.0, round(seconds * scale / 60) * 60)

    return BurnWindows(
        period_seconds,
        BurnWindow(Severity.PAGE, 2, length(300), length(HOUR)),
        BurnWindow(Severity.PAGE, 5, length(1800), length(6 * HOUR)),
        BurnWindow(Severity.TICKET, 10, length(2 * HOUR), length(DAY)),
        BurnWindow(Severity.TICKET, 10, length(6 * HOUR), length(3 * DAY)),
    )
