"""The facts of a postmortem for one window: what happened when, whom it hurt, what it cost, who is
suspected, and how fast it was seen and put right (M10).

The scope is the incidents that overlap the window (narrowed by backend, tenant or alert when asked):
their backends and tenants decide which jobs count. A job is affected when it is in scope, something
went wrong with it that a tenant would notice (no usable result, a lifecycle that was not fully traced,
a bill other than the meter owes, an hour or more in the queue, or a fidelity well under what the
calibration predicted), and its tenant is not the aggressor the detectors name as the cause. That one
definition, ``affected_jobs``, is what every section counts. Rendering lives in ``slo.postmortem_render``,
plots in ``slo.postmortem_plots``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from common.readable import minutes
from contract.alert_catalogue import STARVATION
from contract.billing import misbilled
from slo.billing import per_tenant as billing_per_tenant
from slo.catalogue import CATALOGUE, SliId, SliParameters
from slo.fault_scoring import control_groups, during, score
from slo.incidents import SIGNAL_ORDER, incidents, within
from slo.sli import NotComputable, Tables, events, sli_table
from slo.specs import SloSpec
from slo.tenant_scope import scoped_incidents
from slo.viewer import ANOTHER_TENANT, OPERATOR, Redactor, Viewer

PROBLEMS = {
    "calibration_failing": "Calibration failing", "out_of_rotation": "Backend out of rotation",
    "drift": "Calibration drift", "noisy_neighbour": "Noisy neighbour", "starvation": "Scheduler starvation",
    "backend_down": "Backend down", "billing_delta": "Billing delta", "slo_burn": "Error-budget burn",
}
"""What each kind of signal says went wrong, for the title and the root cause."""
DEGRADED_RATIO = 0.95
"""A result whose fidelity is under this fraction of the calibration's prediction counts as degraded."""
REASONS = ("failed", "telemetry_incomplete", "misbilled", "starved", "degraded")


@dataclass(frozen=True)
class Scope:
    start: datetime
    end: datetime
    backend: str | None = None
    tenant: str | None = None
    alert: str | None = None
    incident: str | None = None
    """One incident: the postmortem is about it alone, not about whatever else overlapped its window."""

    def describe(self) -> str:
        parts = [f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"]
        parts += [f"{name} {value}" for name, value in
                  (("incident", self.incident), ("backend", self.backend), ("tenant", self.tenant),
                   ("alert", self.alert)) if value]
        return ", ".join(parts)


@dataclass
class Postmortem:
    scope: Scope
    tables: Tables
    """The tables the report was built from, narrowed to the scope's tenant when it names one."""
    backends: list[str]
    tenants: list[str]
    incidents: pl.DataFrame
    signals: pl.DataFrame
    timeline: pl.DataFrame
    affected: pl.DataFrame
    affected_jobs: pl.DataFrame
    budget: pl.DataFrame
    suspects: pl.DataFrame
    billing: pl.DataFrame
    routed_after_detection: int
    faults: pl.DataFrame | None
    cause: dict | None
    """The signal that saw the problem first (a detector's before any SLO burn), or None without incidents."""
    aggressors: list[str]
    """Tenants the detectors name as the cause (noisy-neighbour suspects): a cause, never counted as hurt."""

    @property
    def problem(self) -> str:
        return PROBLEMS[self.cause["signal"]] if self.cause else "Nothing"

    @property
    def place(self) -> str:
        """Where the cause was seen: its backends, else its tenants, else the platform."""
        if not self.cause:
            return "the platform"
        return ", ".join(self.cause["backends"] or self.cause["tenants"] or ["the platform"])

    @property
    def title(self) -> str:
        if self.cause is None:
            return f"Review of {self.scope.describe()}"
        hurt = self.affected.height
        return f"{self.problem} on {self.place}; {hurt} tenant{'' if hurt == 1 else 's'} hurt"


def _in_scope(backends: list[str], tenants: list[str]) -> pl.Expr:
    on_backend = pl.col("backend").is_in(backends) if backends else pl.lit(False)
    of_tenant = pl.col("tenant").is_in(tenants) if tenants else pl.lit(False)
    if not backends:
        return of_tenant if tenants else pl.lit(True)
    return on_backend | (pl.col("backend").is_null() & of_tenant)


def _reasons(tolerance: float) -> dict[str, pl.Expr]:
    success, defaults = CATALOGUE[SliId.M1], SliParameters()
    return {
        "failed": success.valid(defaults) & ~success.good(defaults),
        "telemetry_incomplete": ~pl.col("complete").fill_null(False),
        "misbilled": misbilled(tolerance).fill_null(False),
        "starved": (pl.col("queue_wait_seconds") > STARVATION.bound_seconds).fill_null(False),
        "degraded": (pl.col("measured_fidelity") < DEGRADED_RATIO * pl.col("predicted_fidelity")).fill_null(False),
    }


def affected_jobs(jobs: pl.LazyFrame, scope: Scope, backends: list[str], tenants: list[str],
                  tolerance: float) -> pl.DataFrame:
    reasons = _reasons(tolerance)
    return (
        jobs.filter(pl.col("submitted_at") <= scope.end, pl.coalesce("finished_at", "submitted_at") >= scope.start,
                    _in_scope(backends, tenants))
        .with_columns(**reasons)
        .filter(pl.any_horizontal(*REASONS))
        .select(
            "provenance_id", "tenant", "backend", "submitted_at", "finished_at", "outcome", "reason",
            "measured_fidelity", "predicted_fidelity", "queue_wait_seconds", "billed_seconds",
            reasons=pl.concat_list(pl.when(pl.col(r)).then(pl.lit(r)) for r in REASONS).list.drop_nulls().list.join(","),
        )
        .sort("submitted_at", "provenance_id")
        .collect()
    )


def _affected_by_tenant(jobs: pl.LazyFrame, affected: pl.DataFrame, scope: Scope, backends: list[str],
                        tenants: list[str]) -> pl.DataFrame:
    ran = (
        jobs.filter(pl.col("submitted_at") <= scope.end, pl.coalesce("finished_at", "submitted_at") >= scope.start,
                    _in_scope(backends, tenants))
        .group_by("tenant").agg(jobs=pl.len())
    )
    hurt = affected.lazy().group_by("tenant").agg(
        affected=pl.len(), **{r: pl.col("reasons").str.split(",").list.contains(r).sum() for r in REASONS},
        first_job=pl.col("provenance_id").first(),
    )
    return (
        hurt.join(ran, on="tenant", how="left", nulls_equal=True)
        .with_columns(share=pl.col("affected") / pl.col("jobs"))
        .select("tenant", "jobs", "affected", "share", *REASONS, "first_job")
        .sort("affected", "tenant", descending=[True, False])
        .collect()
    )


def _budget(specs: list[SloSpec], tables: Tables, scope: Scope, groups: set[str]) -> pl.DataFrame:
    """Per SLO and group in scope: bad events in the window and the share of the SLO window's budget they took."""
    frames = []
    for spec in specs:
        try:
            stream = events(spec, tables, scope.end)
            whole = sli_table(spec, tables, scope.end)
        except NotComputable:
            continue
        burned = (
            stream.filter(pl.col("time") >= scope.start, pl.col("time") <= scope.end)
            .group_by("group").agg(events=pl.len(), bad=(~pl.col("good")).sum())
            .filter(pl.col("bad") > 0, pl.col("group").is_in(sorted(groups | {"platform"})))
            .join(whole.lazy().select("group", window_events="total", budget_remaining="budget_remaining"), on="group")
            .with_columns(allowed=pl.col("window_events") * (1.0 - spec.objective))
            .select(
                pl.lit(spec.name).alias("slo"), "group", objective=pl.lit(spec.objective), events="events", bad="bad",
                budget_burned=pl.when(pl.col("allowed") > 0).then(pl.col("bad") / pl.col("allowed")).otherwise(float("inf")),
                budget_remaining="budget_remaining", window=pl.lit(spec.window.label),
            )
        )
        frames.append(burned)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames).sort("budget_burned", "slo", "group", descending=[True, False, False]).collect()


def _timeline(tables: Tables, scope: Scope, found: pl.DataFrame, signals: pl.DataFrame, affected: pl.DataFrame,
              backends: list[str], faults: list[dict]) -> pl.DataFrame:
    columns = {"at": pl.Datetime("us", "UTC"), "event": pl.String, "detail": pl.String, "reference": pl.String}
    parts = [
        found.lazy().select(at="start", event=pl.format("{}: impact begins", "incident"),
                            detail=pl.col("tenants").list.join(", "), reference="first_job"),
        signals.lazy().select(at="detected_at", event=pl.format("{} fires ({})", "alert", "severity"),
                              detail="evidence", reference="first_job"),
        found.lazy().select(at="resolved_at", event=pl.format("{}: resolved", "incident"),
                            detail=pl.format("{} after detection", pl.col("minutes_to_resolve").map_elements(
                                minutes, return_dtype=pl.String)),
                            reference=pl.lit(None, pl.String)),
        tables.calibrations.filter(pl.col("backend").is_in(backends), pl.col("ended_at").is_between(scope.start, scope.end))
        .select(
            at="ended_at", event=pl.format("calibration {} on {}", "verdict", "backend"),
            detail=pl.format("T1 {} us, 2q error {}, readout {}{}", (pl.col("t1") * 1e6).round(1), pl.col("error_2q").round(5),
                             pl.col("readout_error").round(4),
                             pl.when(pl.col("reason") != "").then(pl.format("; {}", "reason")).otherwise(pl.lit(""))),
            reference="calibration_trace_id",
        ),
    ]
    failed = affected.lazy().filter(pl.col("reasons").str.contains("failed"), pl.col("finished_at").is_not_null())
    for which, pick in (("first", failed.sort("finished_at", "provenance_id").head(1)),
                        ("last", failed.sort("finished_at", "provenance_id").tail(1))):
        parts.append(pick.select(
            at="finished_at", event=pl.lit(f"{which} failed job"),
            detail=pl.format("{} on {}: {} ({})", "tenant", pl.col("backend").fill_null("no backend"), "outcome",
                             pl.col("reason").fill_null("unusable result")),
            reference="provenance_id",
        ))
    for fault in faults:
        for edge, verb in (("start", "begins"), ("end", "ends")):
            parts.append(pl.LazyFrame({
                "at": [datetime.fromisoformat(fault[edge])], "event": [f"injected fault {fault['id']} ({fault['kind']}) {verb}"],
                "detail": [", ".join(filter(None, [fault.get("backend"), fault.get("antagonist") or fault.get("tenant")]))],
                "reference": [None],
            }, schema=columns))
    return (
        pl.concat([p.select(pl.col(c).cast(t) for c, t in columns.items()) for p in parts])
        .filter(pl.col("at").is_not_null())
        .sort("at", "event", "reference", "detail", nulls_last=True)
        .collect()
    )


BACKEND_HEALTH = ("calibration_failing", "out_of_rotation", "drift", "noisy_neighbour")
BACKEND_STATE = ("calibration_failing", "out_of_rotation", "drift", "backend_down")
"""Signals about a backend itself: platform facts every tenant hurt there may read."""


def routed_after_detection(jobs: pl.LazyFrame, signals: pl.DataFrame) -> int:
    """Jobs that started on a backend after a health signal about it fired and before its impact ended."""
    unhealthy = signals.lazy().filter(pl.col("signal").is_in(BACKEND_HEALTH)).select(
        "detected_at", "end", backend=pl.col("backends").list.first()
    )
    return (
        unhealthy.join(jobs.select("provenance_id", "backend", "execute_start"), on="backend")
        .filter(pl.col("execute_start") > pl.col("detected_at"), pl.col("execute_start") <= pl.col("end"))
        .select(pl.col("provenance_id").n_unique())
        .collect()
        .item()
    )


def build(tables: Tables, scope: Scope, signals: pl.DataFrame, specs: list[SloSpec], neighbours: pl.DataFrame,
          tolerance: float, faults: list[dict] | None = None, viewer: Viewer = OPERATOR) -> Postmortem:
    """The facts of ``scope`` as ``viewer`` may see them: the incidents are the platform's (found over every
    signal, so an incident id means the same facts to everyone), the impact is narrowed to the scope's tenant,
    SLO budgets of platform groups are the platform's, and a tenant never sees another tenant named."""
    if not viewer.is_operator and scope.tenant != viewer.tenant:
        raise ValueError(f"{viewer.describe()} may only review its own scope, not {scope.describe()}")
    if scope.incident is not None:
        related = signals.filter(pl.col("incident") == scope.incident)
    else:
        chosen = within(signals, scope.start, scope.end, scope.backend, scope.tenant, scope.alert)
        related = signals.filter(pl.col("incident").is_in(chosen["incident"].unique().to_list()))
    found = incidents(related)
    backends = [scope.backend] if scope.backend else sorted({b for row in found["backends"] for b in row})
    tenants = [scope.tenant] if scope.tenant else sorted({t for row in found["tenants"] for t in row})
    everyone = tables
    if scope.tenant:
        tables = replace(tables, jobs=tables.jobs.filter(pl.col("tenant") == scope.tenant))
    jobs = tables.jobs
    overlapping = during(faults or [], scope.start, scope.end)
    suspects = neighbours.filter(pl.col("start") <= scope.end, pl.col("end") >= scope.start)
    if backends:
        suspects = suspects.filter(pl.col("backend").is_in(backends))
    aggressors = sorted(set(related["suspect"].drop_nulls()) | set(suspects["suspect"].drop_nulls()))
    hurt = (affected_jobs(jobs, scope, backends, tenants, tolerance)
            .filter(~pl.col("tenant").is_in(aggressors).fill_null(False)))
    in_scope = jobs.filter(_in_scope(backends, tenants))
    billing = (
        billing_per_tenant(in_scope, scope.start, scope.end, tolerance)
        .drop("jobs", "misbilled_jobs")
        .join(hurt.filter(pl.col("reasons").str.contains("failed")).group_by("tenant")
              .agg(billed_for_failed_seconds=pl.col("billed_seconds").fill_null(0.0).sum()), on="tenant", how="left",
              maintain_order="left")
        .with_columns(pl.col("billed_for_failed_seconds").fill_null(0.0))
    )
    if tenants:
        billing = billing.filter(pl.col("tenant").is_in(tenants))
    redact = Redactor.of(everyone.jobs, viewer)
    concerning = related
    if not viewer.is_operator:
        concerning = related.filter(pl.col("tenants").list.contains(viewer.tenant) | pl.col("signal").is_in(BACKEND_STATE))
        suspects = suspects.filter(pl.col("victim") == viewer.tenant).with_columns(
            suspect_workload=pl.when(pl.col("suspect") == viewer.tenant).then("suspect_workload"))
        aggressors = sorted({a if a == viewer.tenant else ANOTHER_TENANT for a in aggressors})
    seen = redact.frame(concerning.sort(*SIGNAL_ORDER, nulls_last=True), text=("evidence",), names=("tenants",),
                        name=("suspect",), jobs=("first_job",))
    narrowed = scoped_incidents(found, viewer, redact)
    return Postmortem(
        scope=scope, tables=tables, backends=backends, tenants=tenants,
        incidents=narrowed,
        signals=seen,
        timeline=redact.frame(_timeline(tables, scope, narrowed, concerning, hurt, backends, overlapping),
                              text=("event", "detail"), jobs=("reference",)),
        affected=_affected_by_tenant(jobs, hurt, scope, backends, tenants), affected_jobs=hurt,
        budget=_budget(specs, everyone, scope, set(backends) | set(tenants)),
        suspects=redact.frame(suspects, name=("victim", "suspect")), billing=billing,
        routed_after_detection=routed_after_detection(jobs, related),
        faults=score(related, overlapping, control_groups(everyone.jobs)) if faults is not None and viewer.is_operator
        else None,
        cause=first_cause(seen), aggressors=aggressors,
    )


def first_cause(signals: pl.DataFrame) -> dict | None:
    """The detector finding with the earliest sign of impact; an SLO burn only when no detector found anything."""
    if signals.is_empty():
        return None
    ranked = signals.with_columns(burn=pl.col("signal") == "slo_burn").sort("burn", "start", *SIGNAL_ORDER, nulls_last=True)
    return ranked.drop("burn").row(0, named=True)
