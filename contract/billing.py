"""How a broker bills, written once: the meter it declares and the price table that turns its meter into money.

A broker declares its meter on the meter span (the ``qtenancy.billing.meter*`` attributes) or in a billing
terms file; the emulator declares the sampling meter of its scenario. What the meter *owes* for a job is
computed here from the execution the trace shows, both as a polars expression over the jobs table (SLI M6,
the billing-delta signal, statements, ``jobs explain``) and as a number (the emulator's meter while it runs),
so the meter that bills and the analysis that judges it cannot disagree. A job whose broker declared nothing
is judged as billed exactly its traced execution seconds.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.yaml_files import YamlFileError, load_model
from contract.semconv import Attr

BILLING_TOLERANCE_SECONDS = 1e-3
"""A bill within this many seconds of what the meter owes is right (float rounding of span times)."""


class MeterKind(StrEnum):
    EXACT = "exact"
    """the traced execution seconds"""
    ROUNDED = "rounded"
    """the execution rounded up to a whole number of ``granularity`` seconds"""
    SAMPLED = "sampled"
    """one ``granularity`` for every multiple of it (Unix time) inside the execution"""


class ReservedJobs(StrEnum):
    PER_JOB = "per_job"
    """a job inside its tenant's reservation is metered like any other"""
    TO_RESERVATION = "to_reservation"
    """the reservation's time is billed to the reservation; its jobs' meter entries owe nothing"""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meter(Strict):
    """What a broker's meter owes for one executed job."""

    kind: MeterKind = Field(MeterKind.EXACT, description="exact, rounded or sampled (the table above)")
    granularity_seconds: float = Field(1.0, gt=0, description="rounding step or sampling period (rounded, sampled)")
    minimum_seconds: float = Field(0.0, ge=0, description="an executed job owes at least this much")
    reserved_jobs: ReservedJobs = Field(ReservedJobs.PER_JOB, description="per_job or to_reservation (the table above)")

    def owed_seconds(self, start: float, end: float, reserved: bool) -> float:
        """Seconds owed for an execution over [start, end) (seconds on a clock aligned to Unix time)."""
        if reserved and self.reserved_jobs is ReservedJobs.TO_RESERVATION:
            return 0.0
        g = self.granularity_seconds
        if self.kind is MeterKind.SAMPLED:
            owed = (math.ceil(end / g) - math.ceil(start / g)) * g
        elif self.kind is MeterKind.ROUNDED:
            owed = math.ceil((end - start) / g) * g
        else:
            owed = end - start
        return max(owed, self.minimum_seconds)


EXACT = Meter()

METER_COLUMNS: dict[str, Attr] = {
    "meter": Attr.METER,
    "meter_granularity_seconds": Attr.METER_GRANULARITY,
    "meter_minimum_seconds": Attr.METER_MINIMUM,
    "meter_reserved_jobs": Attr.METER_RESERVED_JOBS,
}
"""The jobs table's columns of the meter a job's broker declared, and the meter-span attribute of each."""


def meter_columns(meter: Meter) -> dict[str, str | float]:
    """The jobs-table columns of a job billed by ``meter``."""
    return {"meter": meter.kind.value, "meter_granularity_seconds": meter.granularity_seconds,
            "meter_minimum_seconds": meter.minimum_seconds, "meter_reserved_jobs": meter.reserved_jobs.value}


def with_meter(jobs: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """Jobs whose broker declared no meter judged by ``meter`` (a billing terms file's): declarations win."""
    declared = pl.col("meter").is_not_null()
    return jobs.with_columns(
        pl.when(declared).then(pl.col(c)).otherwise(pl.lit(v)).alias(c) for c, v in meter_columns(meter).items())


def owed_seconds() -> pl.Expr:
    """What the declared meter owes for the execution the trace shows (null without a traced execution)."""
    g = pl.col("meter_granularity_seconds").fill_null(EXACT.granularity_seconds)
    start, end = pl.col("execute_start"), pl.col("execute_end")
    ticks = lambda t: (t.dt.epoch("us") / (g * 1e6)).ceil()  # noqa: E731
    used = (end - start).dt.total_microseconds() / 1e6
    kind = pl.col("meter").fill_null(MeterKind.EXACT.value)
    owed = (
        pl.when(kind == MeterKind.SAMPLED.value).then((ticks(end) - ticks(start)) * g)
        .when(kind == MeterKind.ROUNDED.value).then((used / g).ceil() * g)
        .otherwise(used)
    )
    to_reservation = pl.col("reserved").fill_null(False) & (
        pl.col("meter_reserved_jobs") == ReservedJobs.TO_RESERVATION.value).fill_null(False)
    return (
        pl.when(start.is_null() | end.is_null()).then(None)
        .when(to_reservation).then(0.0)
        .otherwise(pl.max_horizontal(owed, pl.col("meter_minimum_seconds").fill_null(0.0)))
    )


def billing_delta() -> pl.Expr:
    """Billed seconds minus what the declared meter owes for the traced execution."""
    return pl.col("billed_seconds") - owed_seconds()


def misbilled(tolerance: float = BILLING_TOLERANCE_SECONDS) -> pl.Expr:
    return billing_delta().abs() > tolerance


class PriceTable(Strict):
    """Money for a meter entry: seconds by backend, shots, a fee per task, a minimum per job; reservations."""

    currency: str = Field("USD", description="the currency every amount is in")
    per_second: dict[str, float] = Field({}, description="price of a backend second, by backend")
    default_per_second: float = Field(0.0, ge=0, description="for a backend the table does not list")
    per_shot: float = Field(0.0, ge=0, description="price of a shot billed")
    per_task: float = Field(0.0, ge=0, description="a fee for every executed job")
    minimum_charge: float = Field(0.0, ge=0, description="an executed job costs at least this much")
    reservation_per_second: float = Field(0.0, ge=0, description="price of a reserved backend second")

    @model_validator(mode="after")
    def _prices_not_negative(self) -> PriceTable:
        bad = sorted(b for b, p in self.per_second.items() if p < 0)
        if bad:
            raise ValueError(f"per_second of {', '.join(bad)} is negative")
        return self

    def amount(self, seconds: pl.Expr, shots: pl.Expr) -> pl.Expr:
        """The money for a meter entry of ``seconds`` and ``shots`` on the job's backend (null without seconds)."""
        rate = pl.col("backend").replace_strict(self.per_second, default=self.default_per_second, return_dtype=pl.Float64)
        raw = seconds * rate + shots.fill_null(0) * self.per_shot + self.per_task
        return pl.when(seconds.is_not_null()).then(pl.max_horizontal(raw, pl.lit(self.minimum_charge)))


class Reservation(Strict):
    tenant: str = Field(description="whose reservation")
    backend: str = Field(description="the reserved backend")
    start: datetime = Field(description="ISO 8601 with a time zone")
    end: datetime = Field(description="ISO 8601 with a time zone, after start")

    @model_validator(mode="after")
    def _ordered(self) -> Reservation:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must carry a time zone, e.g. 2026-01-05T00:00:00Z")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BillingTerms(Strict):
    """A broker's billing terms: the meter for jobs that declare none, the prices, and the reservations."""

    meter: Meter = EXACT
    prices: PriceTable = PriceTable()
    reservations: list[Reservation] = []


def write_billing_terms(terms: BillingTerms, path: Path) -> None:
    path.write_text(yaml.safe_dump(terms.model_dump(mode="json"), sort_keys=True))


class BillingTermsError(ValueError):
    """A billing terms file that cannot be used; the message names the file, the field and the reason."""


def load_billing_terms(path: Path) -> BillingTerms:
    """The terms in ``path``, or the default (exact meter, no prices) when there is no such file."""
    if not path.exists():
        return BillingTerms()
    try:
        return load_model(path, BillingTerms, "billing terms")
    except YamlFileError as exc:
        raise BillingTermsError(str(exc)) from None
