"""Correlating a share of the provenance IDs at a time gives the jobs table correlating all at once gives."""

from __future__ import annotations

import collector.correlate as correlation
from collector.correlate import correlate
from contract.tables import read_jobs
from emulator.bulk_sink import write_bulk

from .conftest import TEST_SCENARIOS, run_of


def test_buckets_of_provenance_ids_give_the_same_jobs(tmp_path, monkeypatch):
    run = run_of(TEST_SCENARIOS / "telemetry.yaml")
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    written = write_bulk(run, whole)
    write_bulk(run, shared)
    assert correlate(whole).jobs_total == run.jobs.height
    monkeypatch.setattr(correlation, "BUCKET_SPANS", written["spans"] // 7)
    assert correlate(shared).jobs_total == run.jobs.height
    assert read_jobs(shared).collect().equals(read_jobs(whole).collect())
