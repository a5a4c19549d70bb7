"""Reading the store as a principal: the platform sees every row, a tenant only its own.

The tenant filter is applied to the correlated jobs table and, through it, to spans and logs: a trace
is a tenant's when the job it belongs to is. A job of another tenant reads as not found, so a tenant
cannot even learn that a provenance ID exists.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl

from collector.tenancy import Principal
from contract.semconv import Attr
from contract.tables import JSON_COLUMNS, LOGS, SPANS, read_jobs, scan


def _visible(jobs: pl.LazyFrame, principal: Principal) -> pl.LazyFrame:
    return jobs if principal.admin else jobs.filter(pl.col("tenant") == principal.tenant)


def jobs_for(
    store: Path, principal: Principal, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
) -> pl.DataFrame:
    jobs = _visible(read_jobs(store), principal)
    if since is not None:
        jobs = jobs.filter(pl.col("submitted_at") >= since)
    if until is not None:
        jobs = jobs.filter(pl.col("submitted_at") < until)
    return jobs.sort("submitted_at", "provenance_id").head(limit).collect()


def trace_for(store: Path, principal: Principal, provenance_id: str) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The job's spans and logs, or None when there is no such job for this principal."""
    job = _visible(read_jobs(store), principal).filter(pl.col("provenance_id") == provenance_id)
    if job.select(pl.len()).collect().item() == 0:
        return None
    pid = Attr.PROVENANCE_ID.value
    spans = scan(store, SPANS).filter(pl.col("trace_id") == provenance_id).sort("start_ns", "span_id").collect()
    logs = scan(store, LOGS).filter(pl.col(pid) == provenance_id).sort("time_ns").collect()
    return spans, logs


def as_documents(frame: pl.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts, with the JSON-document columns (attributes, span events and links, the
    resource and scope) as structures: a trace read shows an exception event as an object."""
    rows = json.loads(frame.write_json())
    for row in rows:
        for column in JSON_COLUMNS:
            if isinstance(row.get(column), str):
                row[column] = json.loads(row[column])
    return rows
