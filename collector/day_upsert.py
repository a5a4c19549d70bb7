"""Writing rebuilt rows over a derived table's day partitions in bounded memory.

The correlator spills what it rebuilds, a file per share and day; each touched day is then merged from those
files and the rows its part keeps, a slice of time at a time. Neither an increment's rows nor a whole day's
are in memory at once, only a slice's, and the part comes out sorted by time then key as if sorted whole.
"""

from __future__ import annotations

from functools import partial
from itertools import pairwise
from pathlib import Path

import polars as pl

from common.parallel import run_all
from contract.tables import ROW_GROUP_ROWS, verified_row_groups, write_row_groups

CONCURRENT_DAYS = 2
"""Days rewritten at the same time: compressing and writing a day's part keeps about one core busy, and each
holds only a slice of rows."""
SPILL_ROW_GROUP = 16_384
"""Rows per row group of a spilled file: reading a slice of time from it skips the row groups outside the slice."""


def _day(time_column: str) -> pl.Expr:
    return pl.col(time_column).dt.strftime("%Y-%m-%d").fill_null("unknown")


def _write_run(rows: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(path, compression="lz4", row_group_size=SPILL_ROW_GROUP)


def spill(frame: pl.DataFrame, to: Path, part: str, time_column: str) -> None:
    """``frame`` under ``to``, a file named ``part`` per day of ``time_column``."""
    days = frame.with_columns(_day=_day(time_column))
    for (day,), rows in days.partition_by("_day", as_dict=True, include_key=False).items():
        _write_run(rows, to / f"day={day}" / f"{part}.parquet")


def upsert(table: Path, key: str, time_column: str, spilled: Path, existing: pl.LazyFrame | None,
           schema: pl.Schema) -> int:
    """Replace the rows of the keys spilled under ``spilled`` in the day-partitioned ``table`` (``existing``: its
    rows, if any), rewriting only the days that hold them now or held them before; the number of keys."""
    files = sorted(spilled.glob("day=*/*.parquet"))
    if not files:
        return 0
    keys = pl.scan_parquet(files, hive_partitioning=False).select(key).collect()
    days = {p.parent.name.removeprefix("day=") for p in files}
    if existing is not None:
        days |= set(existing.join(keys.lazy(), on=key, how="semi").select(_day(time_column).unique())
                    .collect(engine="streaming").to_series().to_list())

    def rewrite(day: str) -> None:
        part, runs = table / f"day={day}" / f"{table.name}.parquet", spilled / f"day={day}"
        if part.exists():
            for i, rows in enumerate(verified_row_groups(part)):
                _write_run(rows.join(keys, on=key, how="anti"), runs / f"kept-{i}.parquet")
        _merge(sorted(runs.glob("*.parquet")), part, schema, time_column, key)

    run_all([partial(rewrite, day) for day in sorted(days)], CONCURRENT_DAYS)
    return keys.height


def _merge(runs: list[Path], part: Path, schema: pl.Schema, time_column: str, key: str) -> None:
    """Write the rows of ``runs`` as ``part``, sorted by time then key (nulls last), a slice of time at a time:
    each slice is read from every run (skipping their row groups outside it), sorted, and written as a row
    group. No rows: no part."""
    rows = pl.scan_parquet(runs, hive_partitioning=False, schema=schema)
    time = pl.col(time_column)
    times, nulls = rows.select(time.drop_nulls().sort().implode(), nulls=time.null_count()).collect().row(0)
    if not times and not nulls:
        part.unlink(missing_ok=True)
        return
    starts = pl.Series(times, dtype=schema[time_column]).gather_every(ROW_GROUP_ROWS).unique(maintain_order=True)

    def slices():
        for lo, hi in pairwise([*starts, None]):
            within = time >= lo if hi is None else time.is_between(lo, hi, closed="left")
            yield rows.filter(within).collect().sort(time_column, key)
        if nulls:
            yield rows.filter(time.is_null()).collect().sort(key)

    write_row_groups(slices(), part)
