"""Burn rates over the SRE Workbook's multiwindow set, as time series, and the alerts they raise.

Events are counted in fixed steps on a complete grid (every group, every step, zero where nothing
happened); each window's bad and total events are rolling sums over that grid, so the burn rate at a
step covers exactly the window ending there. An alert also needs ``min_events`` in its long window (the
low-traffic guard, as the generated rules have it). The windows and factors are the alert catalogue's, the same
the generated rules use (for 30 days: page on 1h and 5m above 14.4, or 6h and 30m above 6; ticket on 1d
and 2h above 3, or 3d and 6h above 1). Also the forecast of when the budget runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from contract.alert_catalogue import (
    BurnWindow,
    BurnWindows,
    Severity,
    default_burn_windows,
)
from contract.durations import format_duration

STEP_SECONDS = 300


def alert_label(window: BurnWindow) -> str:
    """``page:1h/5m``: the column of one window pair's alert, and how reports name it."""
    return f"{window.severity}:{format_duration(window.long_seconds)}/{format_duration(window.short_seconds)}"


def burn_column(seconds: float) -> str:
    return f"burn_{format_duration(seconds)}"


def _burn(bad: pl.Expr, total: pl.Expr, objective: float) -> pl.Expr:
    allowed = 1.0 - objective
    ratio = pl.when(total > 0).then(bad / total).otherwise(0.0)
    if allowed <= 0:
        return pl.when(bad > 0).then(float("inf")).otherwise(0.0)
    return ratio / allowed


def events_column(seconds: float) -> str:
    return f"events_{format_duration(seconds)}"


def burn_rates(events: pl.LazyFrame, objective: float, start: datetime, end: datetime,
               windows: BurnWindows | None = None, step_seconds: int = STEP_SECONDS,
               min_events: int = 0) -> pl.DataFrame:
    """Per group and step (labelled by the step's end): the burn rate over every window, and the alerts."""
    windows = windows or default_burn_windows()
    spans = [int(w) for w in windows.sli_windows]
    step = f"{step_seconds}s"
    lead = timedelta(seconds=max(spans))
    counted = (
        events.filter(pl.col("time") > start - lead, pl.col("time") <= end)
        .with_columns(at=(pl.col("time") - timedelta(microseconds=1)).dt.truncate(step) + timedelta(seconds=step_seconds))
        .group_by("group", "at")
        .agg(total=pl.len(), bad=(~pl.col("good")).sum())
    )
    grid_start = (start - lead).replace(microsecond=0)
    steps = pl.datetime_range(
        pl.lit(grid_start).dt.truncate(step), pl.lit(end).dt.truncate(step) + timedelta(seconds=step_seconds),
        interval=step, time_unit="us", time_zone="UTC", eager=False,
    ).alias("at")
    grid = events.select("group").unique().join(pl.select(steps).lazy(), how="cross")
    rolled = (
        grid.join(counted, on=["group", "at"], how="left")
        .with_columns(pl.col("total", "bad").fill_null(0))
        .sort("group", "at")
        .with_columns(
            [
                _burn(
                    pl.col("bad").rolling_sum(w // step_seconds, min_samples=1).over("group"),
                    pl.col("total").rolling_sum(w // step_seconds, min_samples=1).over("group"),
                    objective,
                ).alias(burn_column(w))
                for w in spans
            ]
            + [
                pl.col("total").rolling_sum(int(a.long_seconds) // step_seconds, min_samples=1).over("group")
                .alias(events_column(a.long_seconds))
                for a in windows.pairs
            ]
        )
        .filter(pl.col("at") > start, pl.col("at") <= end)
    )
    factor = {alert_label(a): a.factor(windows.period_seconds) for a in windows.pairs}
    alerts = {
        alert_label(a): (pl.col(burn_column(a.long_seconds)) > factor[alert_label(a)])
        & (pl.col(burn_column(a.short_seconds)) > factor[alert_label(a)])
        & (pl.col(events_column(a.long_seconds)) >= min_events)
        for a in windows.pairs
    }
    return (
        rolled.with_columns(**alerts)
        .with_columns(
            page=pl.any_horizontal([alerts[alert_label(a)] for a in windows.pairs if a.severity is Severity.PAGE]),
            ticket=pl.any_horizontal([alerts[alert_label(a)] for a in windows.pairs if a.severity is Severity.TICKET]),
            peak_window=pl.col(burn_column(windows.page_quick.long_seconds)),
        )
        .collect()
    )


def episodes(rates: pl.DataFrame, severity: str) -> pl.DataFrame:
    """Contiguous runs of steps where an alert of ``severity`` fires, per group: first and last step."""
    return (
        rates.lazy()
        .sort("group", "at")
        .with_columns(run=(pl.col(severity) != pl.col(severity).shift(1).over("group")).fill_null(True).cum_sum())
        .filter(pl.col(severity))
        .group_by("group", "run")
        .agg(start=pl.col("at").min(), end=pl.col("at").max(), peak_burn=pl.col("peak_window").max())
        .drop("run")
        .sort("start", "group")
        .collect()
    )


def exhaustion(budget_remaining: float, burn: float, window_seconds: float, as_of: datetime) -> datetime | None:
    """When the budget runs out if the recent burn rate holds: None if it is not burning."""
    if budget_remaining <= 0:
        return as_of
    if burn <= 0 or burn == float("inf"):
        return as_of if burn == float("inf") else None
    return as_of + timedelta(seconds=budget_remaining * window_seconds / burn)
