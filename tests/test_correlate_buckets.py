"""Correlating a share of the provenance IDs at a time, and writing each day a slice of time at a time, gives the
jobs table correlating and writing all at once gives, from scratch and when a client's retried delivery makes the correlator rewrite a day it keeps most of."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest

import collector.correlate as correlation
import collector.day_upsert as day_upsert
from collector.correlate import correlate
from contract.semconv import Attr
from contract.tables import JOBS, LOGS, SPANS, parts, read_jobs, scan_raw, write_atomic
from emulator.bulk_sink import write_bulk

from .conftest import TEST_SCENARIOS, run_of


def test_buckets_of_provenance_ids_and_slices_of_days_give_the_same_jobs(tmp_path, monkeypatch):
    run = run_of(TEST_SCENARIOS / "telemetry.yaml")
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    written = write_bulk(run, whole)
    write_bulk(run, shared)
    assert correlate(whole).jobs_total == run.jobs.height
    monkeypatch.setattr(correlation, "BUCKET_SPANS", written["spans"] // 7)
    monkeypatch.setattr(day_upsert, "ROW_GROUP_ROWS", 97)
    assert correlate(shared).jobs_total == run.jobs.height
    assert read_jobs(shared).collect().equals(read_jobs(whole).collect())
    sliced = parts(shared, JOBS)
    assert all(pq.ParquetFile(p).num_row_groups > 1 for p in sliced if pq.ParquetFile(p).metadata.num_rows > 97)
    assert any(pq.ParquetFile(p).num_row_groups > 1 for p in sliced)

    first = parts(shared, SPANS)[0]
    retried = pl.read_parquet(first).filter(pl.col("trace_id").is_in(pl.col("trace_id").unique().sort().head(5).implode()))
    write_atomic(retried, first.with_name("retried.parquet"))
    rewritten = correlate(shared)
    assert (rewritten.new_parts, rewritten.jobs_rebuilt) == (1, 5)
    assert read_jobs(shared).collect().equals(read_jobs(whole).collect())
    assert not (shared / correlation.SPILL).exists()


def test_a_job_whose_records_sit_in_two_days_is_correlated_whole_when_each_day_is_a_share(tmp_path, monkeypatch):
    """Each day is correlated on its own (the busier one in two slices): the jobs that ran over midnight, whose
    spans and logs sit in both days' parts, are found and correlated from both, and the table equals the one
    correlated at once."""
    scenario = tmp_path / "midnight.yaml"
    scenario.write_text((TEST_SCENARIOS / "telemetry.yaml").read_text()
                        .replace("start: 2026-04-06T00:00:00Z", "start: 2026-04-06T22:30:00Z"))
    run = run_of(scenario)
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    write_bulk(run, whole)
    write_bulk(run, shared)
    pid = Attr.PROVENANCE_ID.value
    located = pl.concat([scan_raw(shared, table, part_column="part").select(pid, "part") for table in (SPANS, LOGS)])
    days = located.select(day=pl.col("part").str.extract(r"day=([^/]+)"))
    spans_per_day = scan_raw(shared, SPANS, part_column="part").group_by("part").len().collect()["len"]
    over_midnight = (located.drop_nulls().group_by(pid).agg(pl.col("part").str.extract(r"day=([^/]+)").n_unique())
                     .filter(pl.col("part") > 1).collect())
    assert days.unique().collect().height == 2 and over_midnight.height > 0

    assert correlate(whole).jobs_total == run.jobs.height
    monkeypatch.setattr(correlation, "BUCKET_SPANS", spans_per_day.max() // 2 + 1)
    shares = correlation._shares(parts(shared, SPANS), parts(shared, LOGS))
    assert len(shares) == 2 and max(share.slices for share in shares) == 2
    assert correlate(shared).jobs_total == run.jobs.height
    assert read_jobs(shared).collect().equals(read_jobs(whole).collect())
    assert not (shared / correlation.SPILL).exists()


def test_a_slice_that_fails_stops_the_slices_not_started_and_writes_no_table(tmp_path, monkeypatch):
    """The disk fills while the second slice's jobs are spilled. The correlation fails with that error without
    starting the slices still queued, leaves no spill and writes no table; once the disk has room again, the next
    run correlates every job."""
    run = run_of(TEST_SCENARIOS / "telemetry.yaml")
    store = tmp_path / "store"
    written = write_bulk(run, store)
    monkeypatch.setattr(correlation, "BUCKET_SPANS", written["spans"] // 7)
    slices = sum(share.slices for share in correlation._shares(parts(store, SPANS), parts(store, LOGS)))
    spilled = []

    def full_disk(frame, to, part, time_column):
        spilled.append(part)
        if len(spilled) == 2:
            raise OSError(28, "No space left on device")
        day_upsert.spill(frame, to, part, time_column)

    monkeypatch.setattr(correlation, "spill", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        correlate(store)
    assert slices >= 7 and len(spilled) < slices
    assert not (store / correlation.SPILL).exists() and not (store / JOBS).exists()
    monkeypatch.setattr(correlation, "spill", day_upsert.spill)
    assert correlate(store).jobs_total == run.jobs.height
