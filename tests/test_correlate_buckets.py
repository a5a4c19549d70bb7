"""Correlating a share of the provenance IDs at a time, and writing each day a slice of time at a time, gives the
jobs table correlating and writing all at once gives, from scratch and when a client's retried delivery makes the correlator rewrite a day it keeps most of."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

import collector.correlate as correlation
import collector.day_upsert as day_upsert
from collector.correlate import correlate
from contract.tables import JOBS, SPANS, parts, read_jobs, write_atomic
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
