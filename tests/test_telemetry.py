"""The emulator's telemetry as it crosses the wire: OTLP traces and logs, Prometheus metrics, fault F3.

Spans and logs go through the real OpenTelemetry SDK and OTLP exporters to a receiver on loopback that
decodes them with opentelemetry-proto; metrics go through prometheus-client, into an OpenMetrics file
that promtool backfills into a real Prometheus, and onto a live /metrics endpoint.
Bad input tried: a malformed --otlp-header, and an endpoint where nothing listens.
"""

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import timedelta

import polars as pl
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from prometheus_client.parser import text_string_to_metric_families

from bench.otlp_receiver import GrpcReceiver, HttpReceiver
from contract.semconv import ATTRIBUTES, METRICS, STAGES, Attr, Metric, MetricType, Span
from contract.semconv_doc import render
from contract.tables import stage_names
from emulator.job_trace import present_stage_mask
from emulator.metrics import MetricsReplay
from emulator.openmetrics_file import write_openmetrics
from emulator.otlp_sink import export_run
from emulator.otlp_target import OtlpTarget, Protocol
from emulator.realtime import LiveMetrics, VirtualClock

from .conftest import ROOT, TEST_SCENARIOS, run_of, system_tool
from .prometheus_server import PrometheusServer, free_port

OTLP_TYPES = {"string": "string_value", "int": "int_value", "double": "double_value", "boolean": "bool_value",
              "string[]": "array_value"}


@pytest.fixture(scope="module")
def run():
    return run_of(TEST_SCENARIOS / "telemetry.yaml")


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [v.string_value for v in any_value.array_value.values]
    return getattr(any_value, kind)


def _attributes(item) -> dict:
    return {kv.key: _value(kv.value) for kv in item.attributes}


def _ns(ts) -> int:
    return int(ts.timestamp() * 1_000_000) * 1000


@pytest.fixture(scope="module")
def http_export(run):
    with HttpReceiver() as receiver:
        stats = export_run(run, OtlpTarget(receiver.endpoint, headers=(("x-scope-orgid", "lab"),)))
    return stats, receiver.received


def test_every_job_is_one_trace_with_its_stages_and_provenance(run, http_export):
    stats, received = http_export
    traces = defaultdict(dict)
    for resource, span in received.spans():
        resource_attributes = _attributes(resource)
        assert resource_attributes["service.name"] == "qtenancy-broker"
        assert resource_attributes["qtenancy.scenario"] == "telemetry"
        traces[span.trace_id.hex()][span.name] = span
    jobs = run.jobs.with_columns(declared=stage_names(present_stage_mask()))
    finished = jobs.filter(pl.col("finished_at").is_not_null())
    assert finished.height > 3000
    for job in finished.iter_rows(named=True):
        spans = traces[job["provenance_id"]]
        root = spans[Span.JOB.value]
        attributes = _attributes(root)
        assert attributes[Attr.PROVENANCE_ID] == job["provenance_id"]
        assert attributes[Attr.STAGES] == job["declared"]
        assert (root.start_time_unix_nano, root.end_time_unix_nano) == (_ns(job["submitted_at"]), _ns(job["finished_at"]))
        expected = {Span.stage(s) for s in job["declared"]} - {Span.stage(s) for s in job["telemetry_lost_stages"]}
        assert set(spans) - {Span.JOB.value} == expected, job["provenance_id"]
        for span in spans.values():
            assert _attributes(span)[Attr.PROVENANCE_ID] == job["provenance_id"]
            assert span.parent_span_id == (b"" if span is root else root.span_id)
        assert attributes[Attr.OUTCOME] == job["outcome"]
        assert (root.status.code == Status.STATUS_CODE_ERROR) == (job["outcome"] != "succeeded")
    assert stats.loss.dropped == run.jobs["telemetry_lost_stages"].list.len().sum() > 100
    assert received.span_count == stats.spans


def test_root_span_attributes_have_the_contract_types(run, http_export):
    _, received = http_export
    contract = {a.name.value: OTLP_TYPES[a.type] for a in ATTRIBUTES if "job root span" in a.on}
    seen = set()
    for _, span in received.spans():
        if span.name != Span.JOB.value:
            continue
        for kv in span.attributes:
            assert kv.key in contract, f"{kv.key} is not in the contract"
            assert kv.value.WhichOneof("value") == contract[kv.key], kv.key
            seen.add(kv.key)
    assert seen == set(contract), set(contract) - seen


def test_failing_stage_carries_the_error(run, http_export):
    _, received = http_export
    by_trace = defaultdict(dict)
    for _, span in received.spans():
        by_trace[span.trace_id.hex()][span.name] = span
    cases = {"reservation_preemption": "execute", "backend_down": "execute", "postprocess_timeout": "post_process",
             "bad_key": "authorize", "malformed_circuit": "authorize"}
    for reason, stage in cases.items():
        job = run.jobs.filter(pl.col("reason") == reason, pl.col("telemetry_lost_stages").list.len() == 0).row(0, named=True)
        span = by_trace[job["provenance_id"]][Span.stage(STAGES[[s.value for s in STAGES].index(stage)])]
        assert span.status.code == Status.STATUS_CODE_ERROR and span.status.message == reason


def test_logs_carry_the_trace_context(run, http_export):
    _, received = http_export
    by_trace = defaultdict(list)
    for record in received.log_records():
        by_trace[record.trace_id.hex()].append(record)
    for job in run.jobs.filter(pl.col("finished_at").is_not_null()).iter_rows(named=True):
        records = by_trace[job["provenance_id"]]
        names = sorted(r.event_name for r in records)
        if job["outcome"] == "rejected":
            assert names == ["qtenancy.job.rejected"]
            assert job["detail"] in records[0].body.string_value
        else:
            assert names == ["qtenancy.job.admitted", "qtenancy.job.finished"]
        for record in records:
            assert _attributes(record)[Attr.PROVENANCE_ID] == job["provenance_id"]
            assert record.span_id and record.time_unix_nano >= _ns(job["submitted_at"])


def test_calibration_runs_are_traces_with_their_verdict(run, http_export):
    _, received = http_export
    calibrations = [s for _, s in received.spans() if s.name == Span.CALIBRATION.value]
    assert len(calibrations) == run.calibrations.height
    by_id = {_attributes(s)[Attr.CALIBRATION_ID]: s for s in calibrations}
    for row in run.calibrations.iter_rows(named=True):
        attributes = _attributes(by_id[row["calibration_id"]])
        assert attributes[Attr.CALIBRATION_VERDICT] == row["verdict"]
        assert attributes[Attr.CALIBRATION_T1] == pytest.approx(row["t1"])
        assert attributes[Attr.BACKEND] == row["backend"]
    assert len({s.trace_id for s in calibrations}) == len(calibrations)


def test_telemetry_loss_drops_exactly_the_ground_truth_and_delays_the_rest(run, http_export):
    stats, received = http_export
    f3 = next(f for f in run.ground_truth["faults"] if f["id"] == "F3")
    dropped = {(j["provenance_id"], s) for j in f3["jobs"] for s in j["stages_dropped"]}
    assert len(dropped) == f3["spans_dropped"] == stats.loss.dropped
    arrived = {(s.trace_id.hex(), s.name.removeprefix("qtenancy.job.")) for _, s in received.spans()}
    assert not dropped & arrived
    delayed = {j["provenance_id"] for j in f3["jobs"] if j["delay_seconds"] == 90}
    assert stats.loss.delayed > 100
    order = [(s.trace_id.hex(), s.end_time_unix_nano) for _, s in received.spans()]
    late = 0
    latest = 0
    for trace_id, end in order:
        if trace_id in delayed and end + 60e9 < latest:
            late += 1
        latest = max(latest, end)
    assert late > 100, "delayed spans reach the exporter after spans that ended a minute later"


def test_grpc_and_gzip_deliver_the_same_spans(run, http_export):
    _, over_http = http_export
    reference = sorted(
        (s.trace_id, s.span_id, s.name, s.start_time_unix_nano, s.end_time_unix_nano) for _, s in over_http.spans()
    )
    with GrpcReceiver() as receiver:
        export_run(run, OtlpTarget(receiver.endpoint, Protocol.GRPC, headers=(("x-scope-orgid", "lab"),)))
    over_grpc = sorted((s.trace_id, s.span_id, s.name, s.start_time_unix_nano, s.end_time_unix_nano)
                       for _, s in receiver.received.spans())
    assert over_grpc == reference
    assert receiver.received.headers[0]["x-scope-orgid"] == "lab"
    with HttpReceiver() as zipped:
        export_run(run, OtlpTarget(zipped.endpoint, gzip=True))
    assert zipped.received.headers[0]["content-encoding"] == "gzip"
    assert [r.SerializeToString() for r in zipped.received.traces] == [r.SerializeToString() for r in over_http.traces]
    assert over_http.headers[0]["x-scope-orgid"] == "lab"


def test_openmetrics_file_is_deterministic_and_matches_the_jobs_table(run, tmp_path):
    first, second = tmp_path / "a.om", tmp_path / "b.om"
    write_openmetrics(MetricsReplay(run), first)
    write_openmetrics(MetricsReplay(run), second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert text.endswith("# EOF\n")
    assert '# {trace_id="' in text, "queue-wait buckets carry exemplars with the provenance ID"
    points = [line.rsplit(" ", 2)[1:] for line in text.splitlines() if line.startswith("qtenancy_jobs_total{")]
    last = max(float(stamp) for _, stamp in points)
    assert last == run.scenario.start.timestamp() + run.scenario.horizon
    closed = sum(float(value) for value, stamp in points if float(stamp) == last)
    assert closed == run.jobs["finished_at"].drop_nulls().len()


def _backfill(run, tmp_path):
    promtool = system_tool("promtool")
    om = tmp_path / "metrics.om"
    write_openmetrics(MetricsReplay(run), om)
    tsdb = tmp_path / "tsdb"
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return tsdb


def test_promtool_backfills_the_run_into_a_real_prometheus(run, tmp_path):
    tsdb = _backfill(run, tmp_path)
    jobs = run.jobs
    end = run.scenario.start + timedelta(seconds=run.scenario.horizon)
    with PrometheusServer(system_tool("prometheus"), tsdb) as prometheus:
        by_outcome = prometheus.query("sum by (outcome) (qtenancy_jobs_total)", end)
        expected = jobs.filter(pl.col("finished_at").is_not_null()).group_by("outcome").len()
        assert {k[0][1]: v for k, v in by_outcome.items()} == dict(expected.iter_rows())
        started = jobs.filter(pl.col("execute_start").is_not_null(), pl.col("tenant").is_not_null()).height
        assert prometheus.scalar("sum(qtenancy_job_queue_wait_seconds_count)", end) == started
        assert prometheus.scalar("sum(qtenancy_calibration_runs_total)", end) == run.calibrations.height
        lost = jobs["telemetry_lost_stages"].list.len().sum()
        assert prometheus.scalar('qtenancy_telemetry_spans_dropped_total{backend="lima"}', end) == lost
        start = run.scenario.start
        up = 'qtenancy_backend_up{backend="lima"}'
        assert prometheus.scalar(up, start + timedelta(hours=2, minutes=20)) == 0
        assert prometheus.scalar(up, start + timedelta(hours=2, minutes=40)) == 1
        busy = prometheus.query("sum by (tenant) (qtenancy_backend_busy_seconds_total)", end)
        table = jobs.group_by("tenant").agg(pl.col("exec_seconds").sum()).drop_nulls("tenant")
        for tenant, seconds in table.iter_rows():
            assert busy[(("tenant", tenant),)] == pytest.approx(seconds, rel=1e-9)
        rate = prometheus.scalar("sum(rate(qtenancy_jobs_total[30m]))", start + timedelta(hours=1, minutes=45))
        window = jobs.filter(pl.col("finished_at").is_between(start + timedelta(hours=1, minutes=15),
                                                              start + timedelta(hours=1, minutes=45)))
        assert rate * 1800 == pytest.approx(window.height, rel=0.05)


def test_live_endpoint_serves_the_replay_as_it_happens(run):
    replay = MetricsReplay(run)
    clock = VirtualClock(int(run.scenario.start.timestamp() * 1e9), speedup=run.scenario.horizon / 3.0)
    with LiveMetrics(replay, clock, "127.0.0.1", 0) as live:
        url = f"http://127.0.0.1:{live.port}/metrics"
        time.sleep(1.0)
        with urllib.request.urlopen(url) as reply:
            early = reply.read().decode()
        live.wait_done()
        with urllib.request.urlopen(url) as reply:
            final = reply.read().decode()

    def closed(text: str) -> float:
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return sum(s.value for s in families["qtenancy_jobs"].samples if s.name == "qtenancy_jobs_total")

    total = run.jobs["finished_at"].drop_nulls().len()
    assert 0 < closed(early) < total
    assert closed(final) == total


def test_cli_realtime_mode_exports_spans_and_serves_metrics(tmp_path):
    with HttpReceiver(keep=False) as receiver:
        done = subprocess.run(
            [sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(TEST_SCENARIOS / "telemetry.yaml"),
             "--days", "0.02", "--out", str(tmp_path), "--realtime", "--speedup", "1000", "--metrics-port",
             str(free_port()), "--otlp-endpoint", receiver.endpoint],
            capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "COLUMNS": "200"},
        )
    assert done.returncode == 0, done.stderr
    assert "real time: 1000x, metrics on http://127.0.0.1:" in done.stderr
    assert receiver.received.span_count > 500


def test_cli_refuses_a_bad_header_and_reports_an_unreachable_collector(tmp_path):
    base = [sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(TEST_SCENARIOS / "telemetry.yaml"),
            "--days", "0.01", "--out", str(tmp_path), "--no-openmetrics"]
    bad = subprocess.run(base + ["--otlp-endpoint", "http://127.0.0.1:9", "--otlp-header", "no-equals-sign"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert bad.returncode == 2
    assert "--otlp-header" in bad.stderr and "expected NAME=VALUE, got 'no-equals-sign'" in bad.stderr
    down = subprocess.run(base + ["--otlp-endpoint", f"http://127.0.0.1:{free_port()}", "--otlp-timeout", "1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert down.returncode == 1
    assert "OTLP export to http://127.0.0.1:" in down.stderr and "failed" in down.stderr
    assert (tmp_path / "jobs.parquet").exists(), "the run is kept when its export fails"


def test_semconv_doc_is_generated_from_the_contract():
    assert (ROOT / "docs" / "semconv.md").read_text() == render()


def test_names_follow_opentelemetry_and_prometheus_rules():
    for attribute in ATTRIBUTES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", attribute.name.value), attribute.name
    for metric in METRICS:
        assert re.fullmatch(r"qtenancy_[a-z][a-z0-9_]*", metric.name), metric.name
        assert metric.name.endswith("_total") == (metric.type is MetricType.COUNTER), metric.name
        if metric.unit:
            assert metric.name.removesuffix("_total").endswith("_" + metric.unit), metric.name
        for label in metric.labels:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", label.value)
    assert Metric.QUEUE_WAIT.value in {m.name for m in METRICS if m.buckets}
