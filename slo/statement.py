"""A tenant's billing statement over a period: every metered job and reservation as a line in money, per day,
with the lines a tenant would dispute, and the totals.

A job line is a job that finished in the period and executed or was billed: what its meter entry billed (seconds
and shots, priced by the terms' price table) and what the declared meter owes for the traced execution. A
line is disputed when the job failed or returned no usable result yet was billed, or when the bill differs
from what the meter owes (over- or under-billed). Totals are sums of the lines, and the metered lines are
exactly SLI M6's events for the tenant over the period, so the statement reconciles with M6.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from contract.billing import BillingTerms, owed_seconds, with_meter
from contract.semconv import Outcome
from slo.catalogue import CATALOGUE, SliId, SliParameters
from slo.viewer import Viewer

CENTS = 2
"""Amounts are money: each line is rounded to the cent, and every total is the sum of its rounded lines."""
LINE_COLUMNS = ("day", "kind", "provenance_id", "backend", "outcome", "usable", "billed_seconds", "owed_seconds",
                "billed_shots", "billed_amount", "owed_amount", "difference", "dispute")


@dataclass
class Statement:
    tenant: str
    start: datetime
    end: datetime
    currency: str
    lines: pl.DataFrame
    days: pl.DataFrame
    totals: dict
    m6: dict
    """SLI M6 over the same jobs: ``events`` metered lines, ``good`` billed what the meter owes, and ``sli``."""

    def as_dict(self) -> dict:
        return {"tenant": self.tenant, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "currency": self.currency, "totals": self.totals, "m6": self.m6,
                "days": self.days.to_dicts(), "lines": self.lines.to_dicts()}


def _dispute(tolerance: float) -> pl.Expr:
    delta = pl.col("billed_seconds") - pl.col("owed_seconds")
    billed = pl.col("billed_amount") > 0
    return (
        pl.when(billed & pl.col("owed_seconds").is_null()).then(pl.lit("billed without a traced execution"))
        .when(billed & (pl.col("outcome") != Outcome.SUCCEEDED.value)).then(pl.lit("billed for a failed job"))
        .when(billed & ~pl.col("usable").fill_null(False)).then(pl.lit("billed for an unusable result"))
        .when(delta > tolerance).then(pl.lit("over-billed against the traced usage"))
        .when(delta < -tolerance).then(pl.lit("under-billed against the traced usage"))
    )


def _job_lines(jobs: pl.LazyFrame, terms: BillingTerms, tolerance: float) -> pl.LazyFrame:
    prices = terms.prices
    executed_shots = pl.when(pl.col("execute_start").is_not_null()).then(pl.col("shots")).otherwise(0)
    return (
        with_meter(jobs, terms.meter)
        .filter(pl.col("execute_start").is_not_null() | (pl.col("billed_seconds").fill_null(0) > 0))
        .with_columns(owed_seconds=owed_seconds())
        .with_columns(
            billed_amount=prices.amount(pl.col("billed_seconds"), pl.col("billed_shots")).round(CENTS),
            owed_amount=prices.amount(pl.col("owed_seconds"), executed_shots).round(CENTS),
        )
        .with_columns(difference=(pl.col("billed_amount") - pl.col("owed_amount").fill_null(0.0)).round(CENTS),
                      dispute=_dispute(tolerance))
        .select(day=pl.col("finished_at").dt.date(), kind=pl.lit("job"), provenance_id="provenance_id",
                backend="backend", outcome="outcome", usable="usable", billed_seconds="billed_seconds",
                owed_seconds="owed_seconds", billed_shots="billed_shots", billed_amount="billed_amount",
                owed_amount="owed_amount", difference="difference", dispute="dispute", finished_at="finished_at")
    )


def _reservation_lines(terms: BillingTerms, tenant: str, start: datetime, end: datetime) -> pl.LazyFrame:
    """Reserved time inside the period, billed to the reservation at the reserved-second price."""
    rows = [{"backend": r.backend, "from": max(r.start, start), "to": min(r.end, end)}
            for r in terms.reservations if r.tenant == tenant and r.start < end and r.end > start]
    frame = pl.LazyFrame(rows, schema={"backend": pl.String, "from": pl.Datetime("us", "UTC"),
                                       "to": pl.Datetime("us", "UTC")})
    seconds = (pl.col("to") - pl.col("from")).dt.total_microseconds() / 1e6
    amount = (seconds * terms.prices.reservation_per_second).round(CENTS)
    return frame.select(
        day=pl.col("from").dt.date(), kind=pl.lit("reservation"), provenance_id=pl.lit(None, pl.String),
        backend="backend", outcome=pl.lit(None, pl.String), usable=pl.lit(None, pl.Boolean),
        billed_seconds=seconds, owed_seconds=seconds, billed_shots=pl.lit(0, pl.Int64), billed_amount=amount,
        owed_amount=amount, difference=pl.lit(0.0), dispute=pl.lit(None, pl.String), finished_at=pl.col("from"),
    )


def statement(jobs: pl.LazyFrame, viewer: Viewer, tenant: str, start: datetime, end: datetime,
              terms: BillingTerms) -> Statement:
    """``tenant``'s statement for jobs finished in (start, end], as M6 places them; a tenant viewer may only
    ask for its own (raises PermissionError otherwise)."""
    if not viewer.is_operator and viewer.tenant != tenant:
        raise PermissionError(f"{viewer.describe()} may not read {tenant}'s statement")
    tolerance = SliParameters().billing_tolerance_seconds
    mine = jobs.filter(pl.col("tenant") == tenant, pl.col("finished_at") > start, pl.col("finished_at") <= end)
    lines = (
        pl.concat([_job_lines(mine, terms, tolerance), _reservation_lines(terms, tenant, start, end)])
        .sort("finished_at", "kind", "provenance_id", nulls_last=True)
        .select(LINE_COLUMNS)
        .collect()
    )
    days = (
        lines.group_by("day")
        .agg(jobs=(pl.col("kind") == "job").sum(), billed_amount=pl.col("billed_amount").sum().round(CENTS),
             owed_amount=pl.col("owed_amount").sum().round(CENTS), difference=pl.col("difference").sum().round(CENTS),
             disputed=pl.col("dispute").is_not_null().sum())
        .sort("day")
    )
    disputed = lines.filter(pl.col("dispute").is_not_null())
    totals = {
        "lines": lines.height, "billed_amount": round(lines["billed_amount"].sum(), CENTS),
        "owed_amount": round(lines["owed_amount"].sum(), CENTS), "difference": round(lines["difference"].sum(), CENTS),
        "disputed_lines": disputed.height, "disputed_amount": round(disputed["billed_amount"].sum(), CENTS),
    }
    m6 = CATALOGUE[SliId.M6]
    events = with_meter(mine, terms.meter).filter(m6.valid(SliParameters())).select(
        events=pl.len(), good=m6.good(SliParameters()).sum()).collect().row(0, named=True)
    sli = events["good"] / events["events"] if events["events"] else None
    return Statement(tenant, start, end, terms.prices.currency, lines, days, totals, {**events, "sli": sli})
