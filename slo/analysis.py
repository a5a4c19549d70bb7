"""The analysis as a service: what the SLO report, the incident list, the postmortems and the demo compute.

Every caller (the command line, the demo, an HTTP API or a console) gets the same results from the same
tables by calling these, instead of wiring the detectors together itself.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from common.audit import AuditLog, key_path_for, load_key
from contract.alert_catalogue import (
    STARVATION,
    BurnWindows,
    default_burn_windows,
)
from contract.billing import BillingTerms, load_billing_terms, with_meter
from contract.data_dir import AUDIT_LOG, BILLING_TERMS, STORE
from contract.tables import read_backend_status, read_calibrations, read_jobs
from slo.billing import per_tenant as billing_per_tenant
from slo.catalogue import SliParameters
from slo.drift import detect as detect_drift
from slo.drift import unexplained
from slo.fairness import jain_index, shares, starvation_episodes
from slo.incidents import Evidence
from slo.incidents import find as find_signals
from slo.noisy_neighbour import attribute
from slo.report import Analyses, evaluate
from slo.reproducibility import repeats
from slo.residuals import residuals
from slo.sli import Tables, window_start
from slo.specs import SloSpec, Window

DEFAULT_WINDOW = Window(30 * 86400.0)
DEFAULT_PERIOD = timedelta(seconds=DEFAULT_WINDOW.seconds)
"""What a statement, an incident list or a console covers when no period is asked for: the last 30 days."""


def billing_terms(data_dir: Path) -> BillingTerms:
    """The data directory's billing terms (default: an exact meter and no prices); BillingTermsError if bad."""
    return load_billing_terms(data_dir / BILLING_TERMS)


def store_tables(store: Path, terms: BillingTerms) -> Tables:
    """Every job, calibration and backend status change of a store, each job judged by its declared meter or
    else the terms' meter."""
    return Tables(with_meter(read_jobs(store), terms.meter), read_calibrations(store),
                  backend_status=read_backend_status(store))


def operator_tables(data_dir: Path, action: str, tenant: str | None = None) -> Tables:
    """The correlated tables of a data directory (every tenant's jobs: a tenant's view is narrowed by the
    services, after the platform's facts are computed), the read recorded in its audit trail as the operator's.

    Raises FileNotFoundError before anything is correlated, BillingTermsError for bad billing terms, OSError
    or the audit errors when the read cannot be recorded (then nothing is read).
    """
    tables = store_tables(data_dir / STORE, billing_terms(data_dir))
    record_read(data_dir, action, tenant)
    return tables


def record_read(data_dir: Path, action: str, tenant: str | None) -> None:
    """Append to the data directory's audit trail that the operator read ``tenant``'s data (None: everyone's)."""
    log = data_dir / AUDIT_LOG
    AuditLog(log, load_key(key_path_for(log), create=True)).append(
        f"cli:{getpass.getuser()}", action, tenant or "all tenants")


def fidelity_findings(jobs: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Noisy-neighbour findings, and the drifts they do not explain: both read the same residuals, computed once."""
    errors = residuals(jobs).collect().lazy()
    neighbours = attribute(jobs, errors=errors)
    return neighbours, unexplained(detect_drift(jobs, errors=errors), neighbours)


def analyses(jobs: pl.LazyFrame, repeated: pl.DataFrame, quotas: dict[str, float], start: datetime,
             end: datetime) -> Analyses:
    """Fairness, starvation, billing, reproducibility, drift and noisy neighbours over one window."""
    table = shares(jobs, quotas, start, end)
    neighbours, drifts = fidelity_findings(jobs)
    return Analyses(
        shares=table,
        jain=jain_index(table),
        starvation=starvation_episodes(jobs, STARVATION.bound_seconds, start, end),
        billing=billing_per_tenant(jobs, start, end),
        repeats=repeated,
        drifts=drifts,
        incidents=neighbours,
    )


def slo_results(specs: list[SloSpec], tables: Tables, quotas: dict[str, float], as_of: datetime,
                window: Window | None) -> tuple[pl.DataFrame, Analyses]:
    """Every spec's SLI, budget and burn rates at ``as_of``, and the analyses over the same window."""
    repeated = repeats(tables.jobs)
    results = evaluate(specs, replace(tables, repeats=repeated.lazy()), as_of, window)
    start = window_start(window or DEFAULT_WINDOW, as_of)
    return results, analyses(tables.jobs, repeated, quotas, start, as_of)


@dataclass(frozen=True)
class Detections:
    signals: pl.DataFrame
    neighbours: pl.DataFrame


def detect(specs: list[SloSpec], tables: Tables, as_of: datetime, done: Analyses | None = None,
           windows: BurnWindows | None = None) -> Detections:
    """Every detector over the tables (or those the report's analyses already ran), and their signals; burn
    alerts over ``windows`` (default: the catalogue's set for 30 days), as the generated rules use them."""
    if done is None:
        neighbours, drifts = fidelity_findings(tables.jobs)
        starvation = starvation_episodes(tables.jobs, STARVATION.bound_seconds, as_of - DEFAULT_PERIOD, as_of)
    else:
        neighbours, drifts, starvation = done.incidents, done.drifts, done.starvation
    signals = find_signals(Evidence(
        specs, tables, as_of, drifts, neighbours, starvation, SliParameters().billing_tolerance_seconds,
        windows or default_burn_windows(),
    ))
    return Detections(signals, neighbours)
