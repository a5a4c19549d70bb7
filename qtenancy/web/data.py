"""Every call the console makes into the services, in one place: what a page shows is what the CLI and the
collector's read API compute (slo.analysis, slo.tenant_scope, slo.statement, slo.explain, collector.reads,
slo.postmortem_files).

A viewer is the platform (``tenant`` None) or one tenant. Everything is computed once over every job, as the
platform sees it; a tenant's pages are that narrowed by the tenant services (its SLO groups and the
platform's, the incidents that hurt it with the platform's facts, its own statement in money, its own jobs
explained), so a number means the same on every page and in every tool, and no other tenant is named.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from collector.reads import jobs_for, trace_for
from collector.tenancy import Principal
from contract.alert_catalogue import default_burn_windows
from contract.billing import BillingTerms
from contract.data_dir import STORE
from contract.explore import logs_url, trace_url
from contract.tables import DERIVED
from slo.analysis import (
    DEFAULT_PERIOD,
    Detections,
    billing_terms,
    detect,
    record_read,
    slo_results,
    store_tables,
)
from slo.burn_rate import burn_column, burn_rates
from slo.explain import explain
from slo.incidents import incidents as incidents_of
from slo.postmortem import Scope
from slo.postmortem_files import postmortem_page
from slo.report import Analyses, SloResult, as_records, data_end
from slo.sli import NotComputable, Tables, events
from slo.specs import SloSpec
from slo.statement import Statement, statement
from slo.tenant_scope import incident_list, report_for
from slo.viewer import OPERATOR, Viewer

BIN = "1h"
DISPUTED_SHOWN = 50


@dataclass(frozen=True)
class Snapshot:
    """One read of the data directory as the platform sees it: the tables, SLO results, analyses and incidents."""

    tables: Tables
    terms: BillingTerms
    as_of: datetime
    results: list[SloResult]
    analyses: Analyses
    detections: Detections
    incidents: pl.DataFrame


@dataclass(frozen=True)
class TenantView:
    """What one tenant is shown of a snapshot."""

    slos: list[dict]
    incidents: list[dict]
    statement: Statement
    disputed: list[dict]
    """The statement's lines a tenant would dispute, newest first, at most ``DISPUTED_SHOWN``."""


def status(row: dict) -> str:
    """Pyrra's order of concern: a page burning now, a ticket burning, the budget spent, else fine. A 100%
    objective has no budget to spend: any bad event exhausts it."""
    if row["page_now"]:
        return "critical"
    if row["ticket_now"]:
        return "warning"
    spent = row["sli"] is not None and row["sli"] < 1 if row["zero_budget"] else row["budget_remaining"] < 0
    return "exhausted" if spent else "ok"


def slo_rows(results: list[SloResult]) -> list[dict]:
    """The SLO list's rows, least budget left first, each with its status."""
    measured = {r.spec.name: r.spec.sli for r in results}
    rows = [r | {"budget_remaining": float(r["budget_remaining"]), "sli_id": measured[r["slo"]]}
            for r in as_records(results) if r.get("budget_remaining") is not None]
    rows = [r | {"status": status(r)} for r in rows]
    return sorted(rows, key=lambda r: (r["budget_remaining"], r["slo"], r["group"]))


class ConsoleData:
    def __init__(self, data_dir: Path, specs: list[SloSpec], quotas: dict[str, float]):
        self.data_dir, self.specs, self.quotas = data_dir, specs, quotas
        self._cache: dict[tuple[str | None, float], Snapshot | TenantView] = {}
        self._lock = threading.Lock()

    def _version(self) -> float:
        """When the correlator last wrote any derived table (an outage where no job ran changes only one)."""
        return max((p.stat().st_mtime for table in DERIVED for p in (self.data_dir / STORE / table).rglob("*.parquet")),
                   default=0.0)

    def _cached(self, tenant: str | None, compute):
        """What ``compute`` makes for the viewer, once per change of the store (the read is audited then)."""
        key = (tenant, self._version())
        with self._lock:
            if key not in self._cache:
                record_read(self.data_dir, "console", tenant)
                self._cache[key] = compute()
            return self._cache[key]

    def snapshot(self) -> Snapshot:
        return self._cached(None, self._compute)

    def _compute(self) -> Snapshot:
        terms = billing_terms(self.data_dir)
        tables = store_tables(self.data_dir / STORE, terms)
        as_of = data_end(tables)
        results, analyses = slo_results(self.specs, tables, self.quotas, as_of, None)
        detections = detect(self.specs, tables, as_of, analyses)
        return Snapshot(tables, terms, as_of, results, analyses, detections, incidents_of(detections.signals))

    def tenant_view(self, tenant: str) -> TenantView:
        snap = self.snapshot()
        return self._cached(tenant, lambda: self._tenant_view(snap, Viewer(tenant)))

    @staticmethod
    def _tenant_view(snap: Snapshot, viewer: Viewer) -> TenantView:
        jobs = snap.tables.jobs
        results, _ = report_for(snap.results, snap.analyses, jobs, viewer)
        since = snap.as_of - DEFAULT_PERIOD
        found = incident_list(snap.detections.signals, jobs, since, snap.as_of, viewer)
        bill = statement(jobs, viewer, viewer.tenant, since, snap.as_of, snap.terms)
        disputed = bill.lines.filter(pl.col("dispute").is_not_null()).reverse().head(DISPUTED_SHOWN)
        return TenantView(slos=slo_rows(results),
                          incidents=found.sort("start", "incident", descending=[True, False]).to_dicts(),
                          statement=bill, disputed=disputed.to_dicts())

    def slos(self) -> list[dict]:
        return slo_rows(self.snapshot().results)

    def slo(self, name: str, group: str) -> dict | None:
        """One SLO of one group: its row, and its SLI, budget and burn rates over time with the thresholds."""
        snap = self.snapshot()
        row = next((r for r in self.slos() if r["slo"] == name and r["group"] == group), None)
        spec = next((s for s in self.specs if s.name == name), None)
        if row is None or spec is None:
            return None
        try:
            stream = events(spec, snap.tables, snap.as_of).filter(pl.col("group") == group)
        except NotComputable:
            return None
        start = snap.as_of - timedelta(seconds=spec.window.seconds)
        hourly = (
            stream.filter(pl.col("time") > start)
            .group_by(at=pl.col("time").dt.truncate(BIN)).agg(total=pl.len(), bad=(~pl.col("good")).sum())
            .sort("at")
            .with_columns(sli=1 - pl.col("bad") / pl.col("total"), spent=pl.col("bad").cum_sum(),
                          budget=1 - pl.col("bad").cum_sum() / ((1 - spec.objective) * pl.col("total").cum_sum()))
            .collect()
        )
        budget = ({"budget remaining": "budget"} if spec.objective < 1
                  else {"bad events so far (a 100% objective allows none)": "spent"})
        rates = burn_rates(stream, spec.objective, start, snap.as_of)
        windows = default_burn_windows(spec.window.seconds)
        burns = sorted({w for pair in windows.pairs for w in (pair.short_seconds, pair.long_seconds)})
        return {
            "row": row, "objective": spec.objective,
            "sli": _series(hourly, {"SLI": "sli"}), "budget": _series(hourly, budget),
            "burn": _series(rates, {burn_column(w).removeprefix("burn_"): burn_column(w) for w in burns}),
            "thresholds": [{"label": f"{p.severity.value} {p.budget_percent:g}% in "
                                     f"{burn_column(p.long_seconds).removeprefix('burn_')}",
                            "value": p.factor(windows.period_seconds)} for p in windows.pairs],
        }

    def incidents(self, tenant: str | None = None) -> list[dict]:
        """Every incident, newest first, or those that hurt ``tenant`` as it may see them."""
        if tenant is not None:
            return self.tenant_view(tenant).incidents
        return self.snapshot().incidents.sort("start", "incident", descending=[True, False]).to_dicts()

    def incident(self, incident: str, tenant: str | None = None) -> dict | None:
        return next((i for i in self.incidents(tenant) if i["incident"] == incident), None)

    def postmortem(self, incident: dict, tenant: str | None = None) -> str:
        """The incident's postmortem page, about it alone, as the viewer may read it."""
        snap = self.snapshot()
        scope = Scope(incident["start"], incident["resolved_at"], tenant=tenant, incident=incident["incident"])
        viewer = OPERATOR if tenant is None else Viewer(tenant)
        return postmortem_page(self.specs, snap.tables, snap.detections, scope, viewer)

    def backends(self) -> dict:
        """Calibration history (T1, two-qubit error) and hourly fidelity measured against predicted, per backend;
        an hour in which a backend ran nothing (out of rotation) is a gap in its fidelity."""
        snap = self.snapshot()
        calibrations = snap.tables.calibrations.select(
            "backend", at=pl.col("ended_at").dt.truncate(BIN), t1_us=pl.col("t1") * 1e6, error_2q="error_2q", verdict="verdict",
        ).collect()
        measured = (
            snap.tables.jobs.filter(pl.col("measured_fidelity").is_not_null(), pl.col("execute_start").is_not_null(),
                                    pl.col("backend").is_not_null())
            .group_by("backend", at=pl.col("execute_start").dt.truncate(BIN))
            .agg(measured=pl.col("measured_fidelity").mean(), predicted=pl.col("predicted_fidelity").mean())
            .collect()
        )
        names = sorted(set(calibrations["backend"]) | set(measured["backend"]))
        hours = pl.DataFrame({"backend": names}).join(
            pl.select(at=pl.datetime_range(measured["at"].min(), measured["at"].max(), BIN, time_unit="us",
                                           time_zone="UTC")), how="cross")
        fidelity = hours.join(measured, on=["backend", "at"], how="left")
        runs = calibrations.group_by("backend").agg(runs=pl.len(), failed=(pl.col("verdict") == "fail").sum())
        return {
            "names": names,
            "summary": runs.sort("backend").to_dicts(),
            "t1": _wide(calibrations, "t1_us", names) | {"join": True},
            "error_2q": _wide(calibrations, "error_2q", names) | {"join": True},
            "fidelity": {b: _series(fidelity.filter(pl.col("backend") == b).sort("at"),
                                    {"measured": "measured", "predicted": "predicted"}) for b in names},
        }

    def fairness(self) -> list[dict]:
        return self.snapshot().analyses.shares.select(
            "tenant", "quota", "share", "share_minus_quota", "jobs", "median_wait_seconds").to_dicts()

    def jobs(self, tenant: str | None, limit: int = 200) -> list[dict]:
        """The viewer's latest jobs (submitted in the last day of data), newest first."""
        principal = Principal(tenant, tenant is None)
        since = self.snapshot().as_of - timedelta(days=1)
        latest = jobs_for(self.data_dir / STORE, principal, since=since, limit=10**9)
        return latest.sort("submitted_at", "provenance_id", descending=True).head(limit).select(
            "provenance_id", "tenant", "backend", "submitted_at", "finished_at", "outcome", "measured_fidelity",
            "billed_seconds").to_dicts()

    def job(self, tenant: str | None, provenance_id: str) -> dict | None:
        """The job explained (``slo.explain``, as ``jobs explain`` and the read API give it) with its trace and
        log records as the collector's read API gives them to this viewer; None when it is not the viewer's."""
        snap = self.snapshot()
        explanation = explain(snap.tables, provenance_id, OPERATOR if tenant is None else Viewer(tenant), snap.terms)
        found = trace_for(self.data_dir / STORE, Principal(tenant, tenant is None), provenance_id)
        if explanation is None or found is None:
            return None
        spans, logs = found
        stages = explanation.lifecycle
        window = (stages[0].start - timedelta(minutes=5),
                  max(s.end or s.start for s in stages) + timedelta(minutes=5)) if stages else None
        return {
            "explanation": explanation,
            "spans": spans.select("name", "span_id", "parent_span_id", "start_ns", "end_ns").to_dicts(),
            "logs": logs.select("time_ns", "body").to_dicts() if "body" in logs.columns else [],
            "trace_url": trace_url(provenance_id, window), "logs_url": logs_url(provenance_id, window),
        }

    def statement(self, tenant: str) -> Statement:
        """The tenant's statement in money over the last 30 days of data, as ``billing statement`` gives it."""
        return self.tenant_view(tenant).statement


def _series(frame: pl.DataFrame, columns: dict[str, str]) -> dict:
    """A chart's data: epoch seconds and one list per labelled column (None, a gap, where there is no finite value)."""
    return {"x": [t.timestamp() for t in frame["at"]],
            "series": {label: [v if v is not None and math.isfinite(v) else None for v in frame[c].to_list()]
                       for label, c in columns.items()}}


def _wide(frame: pl.DataFrame, column: str, names: list[str]) -> dict:
    """One series per backend on a shared hourly axis, for a chart that joins a backend's runs across the hours
    of the others'."""
    wide = frame.group_by("at").agg(pl.col(column).filter(pl.col("backend") == b).mean().alias(b) for b in names).sort("at")
    return _series(wide, {b: b for b in names})
