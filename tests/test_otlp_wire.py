"""The fast OTLP replay sends what the SDK's exporter sends: the same requests, decoded with opentelemetry-proto."""

from __future__ import annotations

import pytest

from bench.otlp_receiver import HttpReceiver
from emulator import otlp_replay
from emulator.otlp_replay import RecordedRun, replay
from emulator.otlp_sink import export_run
from emulator.otlp_target import ExportFailed, OtlpTarget
from emulator.run_output import write_run
from qtenancy.stack import free_port

from .conftest import TEST_SCENARIOS, run_of


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    run = run_of(TEST_SCENARIOS / "telemetry.yaml")
    directory = tmp_path_factory.mktemp("run")
    write_run(run, directory)
    return run, RecordedRun(directory, run.scenario.name, run.seed)


def test_replay_sends_exactly_the_sdk_exporters_requests(recorded, monkeypatch):
    """Every request decodes to the same message as one of the SDK's, each once: spans with F3's drops and delays,
    logs, resource; the run is replayed in many stretches, so batches and delayed spans cross their edges. (Several
    requests are in flight at once, so neighbours may arrive swapped.)"""
    run, recording = recorded
    monkeypatch.setattr(otlp_replay, "STRETCH_JOBS", run.jobs.height // 11)
    target = (("x-scope-orgid", "lab"),)
    with HttpReceiver() as sdk:
        sdk_stats = export_run(run, OtlpTarget(sdk.endpoint, headers=target))
    with HttpReceiver() as fast:
        fast_stats = replay(recording, OtlpTarget(fast.endpoint, headers=target))
    assert fast_stats == sdk_stats
    assert sdk_stats.loss.dropped > 0 and sdk_stats.loss.delayed > 0
    assert len(fast.received.traces) == len(sdk.received.traces) > 10
    assert len(fast.received.logs) == len(sdk.received.logs) > 1
    for theirs, ours in ((sdk.received.traces, fast.received.traces), (sdk.received.logs, fast.received.logs)):
        assert sorted(m.SerializeToString() for m in ours) == sorted(m.SerializeToString() for m in theirs)
    assert {h["x-scope-orgid"] for h in fast.received.headers} == {"lab"}


def test_workers_split_the_run_into_whole_traces_and_gzip_changes_nothing(recorded):
    run, recording = recorded
    with HttpReceiver() as sdk:
        export_run(run, OtlpTarget(sdk.endpoint))
    with HttpReceiver() as fast:
        stats = replay(recording, OtlpTarget(fast.endpoint, gzip=True), workers=2)
    assert stats.spans == sdk.received.span_count
    assert {h.get("content-encoding") for h in fast.received.headers} == {"gzip"}
    ours = sorted(span.SerializeToString() for _, span in fast.received.spans())
    theirs = sorted(span.SerializeToString() for _, span in sdk.received.spans())
    assert ours == theirs


def test_an_unreachable_collector_is_an_export_failure_naming_the_reason(recorded):
    """Bad input tried: an endpoint where nothing listens."""
    _, recording = recorded
    with pytest.raises(ExportFailed, match=r"/v1/traces: .*(refused|Connection)"):
        replay(recording, OtlpTarget(f"http://127.0.0.1:{free_port()}", timeout=0.5))
