"""Incidents found in the analytical path: the signals every detector raises, grouped by time and scope.

A signal is what one alert would have said: its name (the same as the generated Prometheus alert's), its
severity, the backends and tenants it concerns, when the impact began (``start``), when the alert would
have fired (``detected_at``) and when the impact ended (``end``). Signals whose spans overlap (within
``MERGE_GAP``) and share a cause are one incident. A signal's cause is its backends and the tenants it
hurt: for a backend's own signals (calibration, rotation, outage, fidelity) the tenants whose jobs failed or
came back unusable there meanwhile, not every tenant that merely ran there; for a burn, the backends and
tenants that hold its bad events; for starvation, the starved tenant. Billing is the tenant's meter alone, so
a billing ticket never joins an outage, nor moves its start, because the tenant ran there.

Burn-rate signals come only from SLIs whose burn-rate alerts the real-time path also generates, with the
same low-traffic guard, so both paths page for the same things.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from scipy.sparse.csgraph import connected_components

from contract.alert_catalogue import (
    BACKEND_DOWN,
    BILLING_DELTA,
    FIDELITY_BELOW_PREDICTION,
    SCHEDULER_STARVATION,
    STARVATION,
    BurnWindows,
    Severity,
)
from contract.durations import format_duration
from contract.semconv import FailureReason, Outcome
from contract.tables import UTC_US
from slo.billing import misbilled_runs
from slo.burn_rate import alert_label, burn_column, burn_rates, episodes
from slo.catalogue import CATALOGUE
from slo.drift import DriftParameters
from slo.platform_signals import calibration_signals, outage_signals
from slo.signals import chains, in_signal_schema, raised
from slo.sli import NotComputable, Tables, events, window_start
from slo.specs import SloSpec

MERGE_GAP = timedelta(minutes=30)
SCOPE_SHARE = 0.1
"""A tenant or backend is in a burn signal's scope when it holds at least this share of its bad events."""
CARRIED = ("provenance_id", "tenant", "backend")
STARVATION_HOLD = timedelta(seconds=STARVATION.hold_seconds)
CHAIN_GAP = timedelta(hours=1)

SIGNAL_ORDER = ("detected_at", "alert", "start", "end", "evidence")
"""A total order of signals, so every table built from them comes out the same way each time."""


def _scope(column: str) -> pl.Expr:
    share = pl.col(column).drop_nulls().value_counts(sort=True)
    return share.filter(share.struct.field("count") >= SCOPE_SHARE * pl.len()).struct.field(column).sort()


def _hot_since(rates: pl.DataFrame, windows: BurnWindows, severity: str) -> pl.LazyFrame:
    """Per group and step, when the run of steps began in which the finest window has burned above the
    severity's lowest factor: the impact behind an alert began no earlier than one finest window before it
    (so a slow alert's long windows do not date its impact back into the quiet hours before it)."""
    factor = min(a.factor(windows.period_seconds) for a in windows.pairs if a.severity == severity)
    finest = windows.sli_windows[0]
    hot = pl.col(burn_column(finest)) > factor
    shortest = timedelta(seconds=finest)
    return (
        rates.lazy().sort("group", "at").with_columns(hot=hot)
        .with_columns(run=(pl.col("hot") != pl.col("hot").shift(1).over("group")).fill_null(True).cum_sum().over("group"))
        .select("group", "at", since=pl.col("at").min().over("group", "run") - shortest)
    )


def _cause_runs(bursts: pl.LazyFrame) -> pl.LazyFrame:
    """Per episode, each burst of bad events joins the earliest burst that shares where it happened (their
    backends, or their tenants when they name no backend); a burst somewhere new starts a run of its own."""
    places = bursts.group_by("episode", "chain").agg(backends=_scope("backend"), tenants=_scope("tenant")).select(
        "episode", "chain", where=pl.when(pl.col("backends").list.len() > 0).then("backends").otherwise("tenants"))
    earliest = (
        places.join(places, on="episode", suffix="_earlier")
        .filter(pl.col("chain_earlier") <= pl.col("chain"),
                pl.col("where").list.set_intersection("where_earlier").list.len() > 0)
        .group_by("episode", "chain")
        .agg(cause_run=pl.col("chain_earlier").min())
    )
    return (
        places.join(earliest, on=["episode", "chain"], how="left")
        .select("episode", "chain", cause_run=pl.coalesce("cause_run", "chain"))
    )


def burn_signals(specs: list[SloSpec], tables: Tables, as_of: datetime, windows: BurnWindows) -> pl.LazyFrame:
    """Page and ticket episodes of every burn-alertable SLO, with the bad events that drove them: one signal
    per place where its bursts of bad events (an hour apart or more) happened, so an alert still firing on slow
    windows when a second, unrelated fault begins elsewhere is a signal for each, each with its own cause."""
    frames = []
    for spec in specs:
        if spec.sli is None or CATALOGUE[spec.sli].no_burn_alerts:
            continue
        try:
            bad = events(spec, tables, as_of, carry=CARRIED).filter(~pl.col("good")).collect()
        except NotComputable:
            continue
        bad = bad.with_columns(pl.lit(None, pl.String).alias(c) for c in CARRIED if c not in bad.columns).lazy()
        own = spec.rules.burn_windows(windows) if spec.rules is not None else windows
        # the rates read every event, but only the bad ones are held with the jobs they name
        rates = burn_rates(events(spec, tables, as_of), spec.objective, window_start(spec.window, as_of), as_of, own,
                           min_events=spec.min_events)
        for severity in (Severity.PAGE.value, Severity.TICKET.value):
            found = (
                episodes(rates, severity).lazy().with_row_index("episode")
                .join(_hot_since(rates, own, severity), left_on=["group", "start"], right_on=["group", "at"])
            )
            bursts = chains(found.join(bad, on="group")
                            .filter(pl.col("time") > pl.col("since"), pl.col("time") <= pl.col("end")),
                            "episode", "time", CHAIN_GAP)
            driven = (
                bursts.join(_cause_runs(bursts), on=["episode", "chain"])
                .group_by("episode", "cause_run")
                .agg(
                    onset=pl.col("time").min(), last_bad=pl.col("time").max(), jobs=pl.len(),
                    first_job=pl.col("provenance_id").sort_by("time", "provenance_id", nulls_last=True).first(),
                    backends=_scope("backend"), tenants=_scope("tenant"),
                )
            )
            pairs = " or ".join(alert_label(a).split(":", 1)[1] for a in own.pairs if a.severity == severity)
            frames.append(in_signal_schema(found.join(driven, on="episode").select(
                signal=pl.lit("slo_burn"), sli=pl.lit(spec.sli.value), alert=pl.lit(spec.alert_name),
                severity=pl.lit(severity),
                backends="backends", tenants="tenants", start="onset",
                detected_at=pl.max_horizontal("start", "onset"),
                end=pl.max_horizontal("last_bad", "onset"), jobs="jobs", first_job="first_job",
                evidence=pl.format(
                    "SLO {} ({}): {} burn over {}, peak {} burn {}, {} bad events",
                    pl.lit(spec.name), pl.col("group"), pl.lit(severity), pl.lit(pairs),
                    pl.lit(format_duration(own.page_quick.long_seconds)), pl.col("peak_burn").round(1), pl.col("jobs"),
                ),
            )))
    return pl.concat(frames) if frames else in_signal_schema(pl.LazyFrame(schema={"signal": pl.String}))


def fidelity_signals(drifts: pl.DataFrame, neighbours: pl.DataFrame) -> pl.LazyFrame:
    """Drift and noisy-neighbour findings: both are what the fidelity-below-prediction alert pages on."""
    fidelity = raised(FIDELITY_BELOW_PREDICTION)
    return pl.concat([
        in_signal_schema(drifts.lazy().select(
            signal=pl.lit("drift"), **fidelity, backends=pl.concat_list("backend"),
            start="onset", detected_at="detected_at", end=pl.max_horizontal("end", "detected_at"),
            evidence=pl.format("calibration drift on {}: errors {}% above what its calibrations reported, {}% more "
                               "within {} under one calibration", "backend", (pl.col("peak_level") * 100).round(0),
                               (pl.col("peak_growth").fill_null(0.0) * 100).round(0), pl.lit(DriftParameters().lookback)),
        )),
        in_signal_schema(neighbours.lazy().select(
            signal=pl.lit("noisy_neighbour"), **fidelity,
            backends=pl.concat_list("backend", "suspect_backends").list.unique().list.sort(),
            tenants=pl.concat_list("victim"), suspect="suspect", start="start", detected_at="detected_at",
            end="end", jobs=pl.col("jobs").cast(pl.Int64),
            evidence=pl.format(
                "{}'s results on {} came out with {}% more error while {}'s jobs on {} ran beside them in {} than "
                "co-running usually costs there ({}%)",
                "victim", "backend", (pl.col("effect") * 100).round(0), "suspect",
                pl.col("suspect_backends").list.join(", "), "control_group", (pl.col("usual_effect") * 100).round(0),
            ),
        )),
    ])


def starvation_signals(starvation: pl.DataFrame) -> pl.LazyFrame:
    return in_signal_schema(starvation.lazy().filter(pl.col("end") - pl.col("start") >= STARVATION_HOLD).select(
        signal=pl.lit("starvation"), **raised(SCHEDULER_STARVATION),
        tenants=pl.concat_list("tenant"), start=pl.col("start") - timedelta(seconds=STARVATION.bound_seconds),
        detected_at=pl.col("start") + STARVATION_HOLD, end="end", jobs=pl.col("jobs").cast(pl.Int64),
        first_job="first_job",
        evidence=pl.format("{} job(s) of {} waited over an hour, for {} minutes in all", "jobs", "tenant",
                           pl.col("minutes").round(0)),
    ))


def job_failure_signals(jobs: pl.LazyFrame, tolerance: float) -> pl.LazyFrame:
    """Jobs failed because their backend was down, and a tenant billed other than its declared meter owes."""
    down = chains(
        jobs.filter(pl.col("reason") == FailureReason.BACKEND_DOWN.value, pl.col("backend").is_not_null()),
        "backend", "finished_at", CHAIN_GAP,
    )
    return pl.concat([
        in_signal_schema(down.group_by("backend", "chain").agg(
            start=pl.col("finished_at").min(), end=pl.col("finished_at").max(), jobs=pl.len(),
            first_job=pl.col("provenance_id").sort_by("finished_at", "provenance_id").first(),
            tenants=pl.col("tenant").drop_nulls().unique().sort(),
        ).select(
            signal=pl.lit("backend_down"), **raised(BACKEND_DOWN),
            backends=pl.concat_list("backend"), tenants="tenants", start="start", detected_at="start", end="end",
            jobs="jobs", first_job="first_job",
            evidence=pl.format("{} job(s) failed because {} was down", "jobs", "backend"),
        )),
        billing_signals(jobs, tolerance),
    ])


def billing_signals(jobs: pl.LazyFrame, tolerance: float) -> pl.LazyFrame:
    """A tenant's runs of misbilled jobs (``slo.billing.misbilled_runs``), each raised once it became material."""
    return in_signal_schema(misbilled_runs(jobs, tolerance, CHAIN_GAP).select(
        signal=pl.lit("billing_delta"), **raised(BILLING_DELTA),
        tenants=pl.concat_list("tenant"), start="start", detected_at="detected_at", end="end",
        jobs="jobs", first_job="first_job",
        evidence=pl.format("{} job(s) of {} billed {} s other than the meter owes", "jobs", "tenant",
                           pl.col("delta").round(1)),
    ))


def fill_tenants(signals: pl.DataFrame, jobs: pl.LazyFrame) -> pl.DataFrame:
    """A backend signal that names no tenant concerns the tenants it hurt: those whose jobs on that backend
    failed or came back unusable meanwhile."""
    missing = signals.lazy().with_row_index("row").filter(pl.col("tenants").list.len().fill_null(0) == 0)
    hurt = jobs.filter(~pl.col("usable").fill_null(False), pl.col("outcome") != Outcome.REJECTED.value)
    ran = (
        missing.select("row", "start", "end", backend=pl.col("backends").list.first())
        .join(hurt.select("tenant", "backend", "finished_at").drop_nulls(), on="backend")
        .filter(pl.col("finished_at").is_between(pl.col("start"), pl.col("end")))
        .group_by("row")
        .agg(ran=pl.col("tenant").unique().sort())
    )
    return (
        signals.lazy().with_row_index("row").join(ran, on="row", how="left")
        .with_columns(tenants=pl.when(pl.col("tenants").list.len().fill_null(0) == 0).then("ran").otherwise("tenants"))
        .drop("row", "ran")
        .with_columns(pl.col("tenants").fill_null([]), pl.col("backends").fill_null([]))
        .sort(*SIGNAL_ORDER, nulls_last=True)
        .collect()
    )


def _union(column: str) -> pl.Expr:
    """The sorted union of a list column over a group."""
    return pl.col(column).list.explode(keep_nulls=False, empty_as_null=False).unique().sort()


def _causes(signal: pl.Expr) -> pl.Expr:
    """Where a signal's cause lies, as ``kind:name`` entries: two signals are related when they share one."""
    backends = pl.col("backends").fill_null([]).list.eval(pl.format("backend:{}", pl.element()))
    tenants = pl.col("tenants").fill_null([])
    return (
        pl.when(signal == "billing_delta").then(tenants.list.eval(pl.format("meter:{}", pl.element())))
        .otherwise(pl.concat_list(backends, tenants.list.eval(pl.format("hurt:{}", pl.element()))))
    )


def group(signals: pl.DataFrame) -> pl.DataFrame:
    """Signals with an ``incident`` id: one incident per connected set of overlapping, related signals."""
    if signals.is_empty():
        return signals.with_columns(incident=pl.lit(None, pl.String))
    start = signals["start"].dt.epoch("s").to_numpy()
    until = signals.select(pl.max_horizontal("end", "detected_at").dt.epoch("s")).to_series().to_numpy()
    gap = MERGE_GAP.total_seconds()
    overlap = (start[:, None] <= until[None, :] + gap) & (start[None, :] <= until[:, None] + gap)
    causes = [set(c) for c in signals.select(_causes(pl.col("signal"))).to_series()]
    related = np.array([[bool(a & b) for b in causes] for a in causes]) | np.eye(len(causes), dtype=bool)
    _, label = connected_components(overlap & related, directed=False)
    labelled = signals.with_columns(component=pl.Series(label))
    first = labelled.group_by("component").agg(opened=pl.col("start").min(), scope=_union("backends").first())
    named = first.sort("opened", "scope").with_columns(
        incident=pl.format("INC-{}", pl.col("opened").dt.strftime("%Y%m%d-%H%M"))
    ).with_columns(
        incident=pl.when(pl.len().over("incident") > 1)
        .then(pl.format("{}-{}", "incident", pl.int_range(pl.len()).over("incident") + 1))
        .otherwise("incident")
    )
    return labelled.join(named.select("component", "incident"), on="component").drop("component")


def incidents(signals: pl.DataFrame) -> pl.DataFrame:
    """One row per incident: scope, alerts, suspects, and the times that M10 and time-to-detect come from."""
    schema = {"incident": pl.String, "severity": pl.String, "start": UTC_US, "detected_at": UTC_US, "resolved_at": UTC_US,
              "alerts": pl.List(pl.String), "backends": pl.List(pl.String), "tenants": pl.List(pl.String),
              "suspects": pl.List(pl.String), "signals": pl.UInt32, "first_job": pl.String,
              "minutes_to_detect": pl.Float64, "minutes_to_resolve": pl.Float64}
    if signals.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        signals.lazy()
        .sort("start", *SIGNAL_ORDER, nulls_last=True)
        .group_by("incident")
        .agg(
            severity=pl.when((pl.col("severity") == Severity.PAGE.value).any()).then(pl.lit(Severity.PAGE.value))
            .otherwise(pl.lit(Severity.TICKET.value)),
            start=pl.col("start").min(), detected_at=pl.col("detected_at").min(), resolved_at=pl.col("end").max(),
            alerts=pl.col("alert").unique().sort(), backends=_union("backends"), tenants=_union("tenants"),
            suspects=pl.col("suspect").drop_nulls().unique().sort(),
            signals=pl.len(), first_job=pl.col("first_job").drop_nulls().first(),
        )
        .with_columns(
            minutes_to_detect=(pl.col("detected_at") - pl.col("start")).dt.total_seconds() / 60,
            minutes_to_resolve=(pl.col("resolved_at") - pl.col("detected_at")).dt.total_seconds().clip(lower_bound=0) / 60,
        )
        .select(list(schema))
        .sort("start", "incident")
        .collect()
    )


def within(frame: pl.DataFrame, start: datetime, end: datetime, backend: str | None = None,
           tenant: str | None = None, alert: str | None = None) -> pl.DataFrame:
    """Signals or incidents that overlap [start, end] and concern the backend, tenant and alert given."""
    until = "resolved_at" if "resolved_at" in frame.columns else "end"
    chosen = frame.filter(pl.col("start") <= end, pl.max_horizontal(until, "detected_at") >= start)
    if backend is not None:
        chosen = chosen.filter(pl.col("backends").list.contains(backend))
    if tenant is not None:
        chosen = chosen.filter(pl.col("tenants").list.contains(tenant))
    if alert is not None:
        column = pl.col("alerts").list.contains(alert) if "alerts" in frame.columns else pl.col("alert") == alert
        chosen = chosen.filter(column)
    return chosen


@dataclass(frozen=True)
class Evidence:
    """Everything a detector may look at: the tables up to ``as_of`` and what the analyses already found."""

    specs: list[SloSpec]
    tables: Tables
    as_of: datetime
    drifts: pl.DataFrame
    neighbours: pl.DataFrame
    starvation: pl.DataFrame
    billing_tolerance: float
    windows: BurnWindows


Detector = Callable[[Evidence], pl.LazyFrame]
"""A detector reads the evidence and raises signals in ``SIGNAL_SCHEMA``."""

DETECTORS: tuple[Detector, ...] = (
    lambda e: burn_signals(e.specs, e.tables, e.as_of, e.windows),
    lambda e: calibration_signals(e.tables.calibrations.filter(pl.col("ended_at") <= e.as_of)),
    lambda e: fidelity_signals(e.drifts, e.neighbours),
    lambda e: starvation_signals(e.starvation),
    lambda e: job_failure_signals(e.tables.jobs.filter(pl.col("finished_at") <= e.as_of), e.billing_tolerance),
    lambda e: outage_signals(e.tables.backend_status, e.as_of),
)
"""Every detector of the analytical path, in the order their signals are listed; add one by adding it here."""


def find(evidence: Evidence) -> pl.DataFrame:
    """Every signal up to ``as_of``, each with the incident it belongs to."""
    signals = pl.concat([detector(evidence) for detector in DETECTORS]).collect()
    return group(fill_tenants(signals, evidence.tables.jobs))
