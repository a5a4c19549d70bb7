"""Good and valid events of an SLO, and its SLI over a window, per group.

An SLO spec picks a catalogue SLI, a grouping (platform, tenant, backend, namespace) and filters; the
events are the rows of the SLI's table that are valid, placed at the SLI's instant, each good or not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from slo.catalogue import CATALOGUE, Table
from slo.specs import Grouping, SloSpec, Window

PLATFORM = "platform"


@dataclass(frozen=True)
class Tables:
    jobs: pl.LazyFrame
    calibrations: pl.LazyFrame
    repeats: pl.LazyFrame | None = None
    backend_status: pl.LazyFrame | None = None

    def get(self, table: Table) -> pl.LazyFrame:
        frame = {Table.JOBS: self.jobs, Table.CALIBRATIONS: self.calibrations, Table.REPEATS: self.repeats}[table]
        if frame is None:
            raise ValueError(f"no {table.value} table to compute this SLI from")
        return frame


class NotComputable(ValueError):
    pass


def _group(spec: SloSpec, columns: list[str]) -> pl.Expr:
    if spec.group_by is Grouping.PLATFORM:
        return pl.lit(PLATFORM)
    if spec.group_by.value not in columns:
        raise NotComputable(f"{spec.name}: the {CATALOGUE[spec.sli].table.value} table has no {spec.group_by.value} to group by")
    return pl.col(spec.group_by.value).fill_null(f"(no {spec.group_by.value})")


def events(spec: SloSpec, tables: Tables, as_of: datetime, carry: tuple[str, ...] = ()) -> pl.LazyFrame:
    """(time, group, good) for every valid event of the SLO up to ``as_of``, plus the ``carry`` columns its table has."""
    if spec.sli is None:
        raise NotComputable(f"{spec.name}: {spec.not_computable}")
    sli = CATALOGUE[spec.sli]
    frame = tables.get(sli.table)
    columns = frame.collect_schema().names()
    for column, values in spec.filter.items():
        if column not in columns:
            raise NotComputable(f"{spec.name}: filter on {column}, which the {sli.table.value} table does not have")
        frame = frame.filter(pl.col(column).is_in(values))
    params = replace(spec.parameters, as_of=as_of)
    return (
        frame.filter(sli.valid(params), pl.col(sli.time).is_not_null(), pl.col(sli.time) <= as_of)
        .select(
            *(pl.col(c) for c in carry if c in columns),
            time=pl.col(sli.time), group=_group(spec, columns), good=sli.good(params).fill_null(False),
        )
    )


def window_start(window: Window, as_of: datetime) -> datetime:
    if window.calendar == "month":
        return as_of.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if window.calendar == "week":
        midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=as_of.weekday())
    return as_of - timedelta(seconds=window.seconds)


def error_budget(objective: float) -> pl.Expr:
    """Budget consumed: bad events over the bad events the objective allows. A 100% objective allows none:
    its budget is zero, and any bad event spends all of it (consumed 1, nothing left), never an infinity."""
    allowed = pl.col("total") * (1.0 - objective)
    return pl.when(pl.col("bad") == 0).then(0.0).when(allowed > 0).then(pl.col("bad") / allowed).otherwise(1.0)


def sli_table(spec: SloSpec, tables: Tables, as_of: datetime, window: Window | None = None) -> pl.DataFrame:
    """Per group: total, good and bad events in the window, the SLI, and the error budget consumed and left."""
    start = window_start(window or spec.window, as_of)
    return (
        events(spec, tables, as_of)
        .filter(pl.col("time") > start)
        .group_by("group")
        .agg(total=pl.len(), good=pl.col("good").sum())
        .with_columns(bad=pl.col("total") - pl.col("good"))
        .with_columns(
            sli=pl.col("good") / pl.col("total"),
            objective=pl.lit(spec.objective),
            budget_consumed=error_budget(spec.objective),
        )
        .with_columns(budget_remaining=1.0 - pl.col("budget_consumed"), met=pl.col("sli") >= spec.objective)
        .sort("group")
        .collect()
    )
