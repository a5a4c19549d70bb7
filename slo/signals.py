"""What every detector raises: signals in one schema (``contract.tables.SIGNAL_SCHEMA``), each what one alert
of the catalogue would have said, and runs of records close in time that make one signal."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from contract.alert_catalogue import Alert
from contract.tables import SIGNAL_SCHEMA


def in_signal_schema(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Fill the columns a source does not set, in the common schema and order."""
    present = frame.collect_schema().names()
    return frame.with_columns(
        pl.lit(None, dtype).alias(name) for name, dtype in SIGNAL_SCHEMA.items() if name not in present
    ).select(pl.col(name).cast(dtype) for name, dtype in SIGNAL_SCHEMA.items())


def raised(alert: Alert) -> dict[str, pl.Expr]:
    """The name and severity columns of a signal of a catalogued alert."""
    return {"alert": pl.lit(alert.name), "severity": pl.lit(alert.severity.value)}


def chains(frame: pl.LazyFrame, by: str, at: str, gap: timedelta) -> pl.LazyFrame:
    """Number runs of rows (per ``by``, in ``at`` order) whose consecutive instants lie within ``gap``."""
    step = (pl.col(at) - pl.col(at).shift(1).over(by)) > gap
    return frame.sort(by, at).with_columns(chain=step.fill_null(True).cum_sum().over(by))
