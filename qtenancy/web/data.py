"""Every call the console makes into the services, in one place: what a page shows is what the CLI and the
collector's read API compute (slo.analysis, slo.report, slo.burn_rate, collector.reads, slo.postmortem_files).

A viewer is the platform (``tenant`` None) or one tenant. A tenant's reads go through the same services over
the tables narrowed to its jobs (``operator_tables(..., tenant)``, ``collector.reads`` with its principal), and
what it is shown of incidents is only when they were and that they touched it.

Switching to the tenant-scoped services of issue 18 (``jobs explain``, billing statements in money, tenant
report/incident/postmortem services) is a change to ``job``, ``statement`` and ``tenant_incidents`` here.
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
from contract.data_dir import STORE
from contract.explore import logs_url, trace_url
from contract.tables import read_jobs
from slo.analysis import Detections, detect, operator_tables, slo_results
from slo.burn_rate import burn_column, burn_rates
from slo.catalogue import SliId
from slo.incidents import incidents as incidents_of
from slo.postmortem import Scope
from slo.postmortem_files import postmortem_page
from slo.report import Analyses, as_records, data_end
from slo.sli import NotComputable, Tables, events
from slo.specs import SloSpec

BIN = "1h"
PLATFORM_ONLY = {SliId.M4}
"""SLIs about the platform's own hardware: a tenant is not shown them."""


@dataclass(frozen=True)
class Snapshot:
    """What one read of the data directory gives a viewer: the tables, their SLOs, analyses and incidents."""

    tables: Tables
    as_of: datetime
    slos: list[dict]
    analyses: Analyses
    detections: Detections | None
    """Incidents are found over every tenant's jobs: only the platform's snapshot holds them."""
    incidents: pl.DataFrame | None


def status(row: dict) -> str:
    """Pyrra's order of concern: a page burning now, a ticket burning, the budget spent, else fine."""
    if row["page_now"]:
        return "critical"
    if row["ticket_now"]:
        return "warning"
    if row["budget_remaining"] is not None and row["budget_remaining"] < 0:
        return "exhausted"
    return "ok"


class ConsoleData:
    def __init__(self, data_dir: Path, specs: list[SloSpec], quotas: dict[str, float]):
        self.data_dir, self.specs, self.quotas = data_dir, specs, quotas
        self._cache: dict[tuple[str | None, float], Snapshot] = {}
        self._lock = threading.Lock()

    def _version(self) -> float:
        jobs = self.data_dir / STORE / "jobs"
        return max((p.stat().st_mtime for p in jobs.rglob("*.parquet")), default=0.0)

    def snapshot(self, tenant: str | None) -> Snapshot:
        """The viewer's snapshot, computed once per change of the store (the read is audited then)."""
        key = (tenant, self._version())
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._compute(tenant)
            return self._cache[key]

    def _compute(self, tenant: str | None) -> Snapshot:
        tables = operator_tables(self.data_dir, "console", tenant)
        as_of = data_end(tables)
        results, analyses = slo_results(self.specs, tables, self.quotas, as_of, None)
        measured = {s.name: s.sli for s in self.specs}
        rows = [r | {"budget_remaining": float(r["budget_remaining"]), "sli_id": measured[r["slo"]]}
                for r in as_records(results) if r.get("budget_remaining") is not None]
        rows = [r | {"status": status(r)} for r in rows]
        if tenant is not None:
            rows = [r for r in rows if r["group"] in (tenant, "platform") and r["sli_id"] not in PLATFORM_ONLY]
        rows.sort(key=lambda r: (r["budget_remaining"], r["slo"], r["group"]))
        if tenant is not None:
            return Snapshot(tables, as_of, rows, analyses, None, None)
        detections = detect(self.specs, tables, as_of, analyses)
        return Snapshot(tables, as_of, rows, analyses, detections, incidents_of(detections.signals))

    def slos(self, tenant: str | None) -> list[dict]:
        return self.snapshot(tenant).slos

    def slo(self, name: str, group: str) -> dict | None:
        """One SLO of one group: its row, and its SLI, budget and burn rates over time with the thresholds."""
        snap = self.snapshot(None)
        row = next((r for r in snap.slos if r["slo"] == name and r["group"] == group), None)
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

    def incidents(self) -> list[dict]:
        return self.snapshot(None).incidents.sort("start", "incident", descending=[True, False]).to_dicts()

    def incident(self, incident: str) -> dict | None:
        found = self.snapshot(None).incidents.filter(pl.col("incident") == incident)
        return found.row(0, named=True) if found.height else None

    def postmortem(self, incident: dict) -> str:
        snap = self.snapshot(None)
        scope = Scope(incident["start"], incident["resolved_at"])
        return postmortem_page(self.specs, snap.tables, snap.detections, scope)

    def tenant_incidents(self, tenant: str) -> list[dict]:
        """Incidents that touched the tenant: when, how bad, where; nothing that names another tenant."""
        found = self.snapshot(None).incidents.filter(pl.col("tenants").list.contains(tenant))
        return found.select("incident", "severity", "start", "detected_at", "resolved_at", "backends",
                            "minutes_to_detect", "minutes_to_resolve").sort("start", descending=True).to_dicts()

    def backends(self) -> dict:
        """Calibration history (T1, two-qubit error) and hourly fidelity measured against predicted, per backend;
        an hour in which a backend ran nothing (out of rotation) is a gap in its fidelity."""
        snap = self.snapshot(None)
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
        return self.snapshot(None).analyses.shares.select(
            "tenant", "quota", "share", "share_minus_quota", "jobs", "median_wait_seconds").to_dicts()

    def jobs(self, tenant: str | None, limit: int = 200) -> list[dict]:
        """The viewer's latest jobs (submitted in the last day of data), newest first."""
        principal = Principal(tenant, tenant is None)
        since = self.snapshot(tenant).as_of - timedelta(days=1)
        latest = jobs_for(self.data_dir / STORE, principal, since=since, limit=10**9)
        return latest.sort("submitted_at", "provenance_id", descending=True).head(limit).select(
            "provenance_id", "tenant", "backend", "submitted_at", "finished_at", "outcome", "measured_fidelity",
            "billed_seconds").to_dicts()

    def job(self, tenant: str | None, provenance_id: str) -> dict | None:
        """The job's row and its trace, as the collector's read API gives them to this viewer."""
        principal = Principal(tenant, tenant is None)
        found = trace_for(self.data_dir / STORE, principal, provenance_id)
        if found is None:
            return None
        spans, logs = found  # found only when the job is the viewer's: its row may be read directly
        row = read_jobs(self.data_dir / STORE).filter(pl.col("provenance_id") == provenance_id).collect()
        window = (row["submitted_at"][0] - timedelta(minutes=5), (row["finished_at"][0] or row["submitted_at"][0])
                  + timedelta(minutes=5))
        return {
            "row": row.row(0, named=True),
            "spans": spans.select("name", "span_id", "parent_span_id", "start_ns", "end_ns").to_dicts(),
            "logs": logs.select("time_ns", "body").to_dicts() if "body" in logs.columns else [],
            "trace_url": trace_url(provenance_id, window), "logs_url": logs_url(provenance_id, window),
        }

    def statement(self, tenant: str) -> list[dict]:
        """The tenant's billing over the window: billed, owed by the meter and used (backend-seconds)."""
        billing = self.snapshot(tenant).analyses.billing.filter(pl.col("tenant") == tenant)
        return billing.select("tenant", "jobs", "billed_seconds", "owed_seconds", "used_seconds", "under_billed_seconds",
                              "over_billed_seconds", "misbilled_jobs").to_dicts()


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
