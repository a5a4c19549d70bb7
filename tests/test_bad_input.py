"""Every bad input gets a 4xx (or gRPC INVALID_ARGUMENT) or an exit code with its reason, and nothing that was
accepted is changed silently.

Bad input tried, each below with the answer it gets: a gzip body of two members (valid: both are kept),
gzip with trailing garbage, ``Content-Encoding: GZIP``; read queries with ``limit=-1``, a huge limit, a
``since`` without a time zone and one that is no date; ``qtenancy.job.stages`` sent as an int over HTTP and
gRPC, and a gRPC body that is not protobuf; all-zero trace and span IDs, a start time at 2^63 ns, a span
that ends before it starts, a contract attribute of the wrong type; a read before anything was
correlated; a corrupt jobs-table part; an empty and a tokenless collector config; a connection that sends
its request head slowly and one that never finishes its body; connections past the open-file limit; a
write-ahead log record corrupted in the middle of a segment; scenario, spec and config files that are not
UTF-8 or are nested 20,000 deep; a read-only data directory; ``alerts generate --out`` naming a file.
"""

import gzip
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import zlib

import grpc
import polars as pl
import pytest
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from collector.config import ConfigError, load_config
from collector.correlate import correlate, read_jobs
from collector.otlp_payload import PayloadError, Signal, decompress, parse
from collector.server import CollectorServer
from collector.store import DataDir, compact
from collector.wal import WriteAheadLog, encode
from contract.tables import SPANS, scan
from emulator.bulk_sink import write_bulk
from qtenancy.stack import free_port

from .conftest import ROOT, SCENARIOS, TEST_SCENARIOS, run_of, small_disk
from .test_collector import (
    PID,
    _config,
    _get,
    _post,
    _serve,
    _span_json,
    _stored,
    _traces_json,
    _wait_healthy,
)

DEEP = "[" * 20_000 + "]" * 20_000


def _cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qtenancy", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300, **kwargs)


def _request(*spans) -> trace_service_pb2.ExportTraceServiceRequest:
    return parse(Signal.TRACES, _traces_json(*spans), "application/json")


def _partial(body: bytes) -> dict:
    return json.loads(body).get("partialSuccess", {})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with CollectorServer(_config(tmp_path_factory.mktemp("bad-input"))) as running:
        yield running


def test_gzip_members_encodings_and_trailing_garbage(server):
    url = f"{server.http_endpoint}/v1/traces"
    first = _request(_span_json("member", span_id="00000000000000c1")).SerializeToString()
    second = _request(_span_json("member", span_id="00000000000000c2")).SerializeToString()
    status, _, body = _post(url, gzip.compress(first) + gzip.compress(second), headers={"Content-Encoding": "gzip"})
    assert status == 200
    assert not trace_service_pb2.ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    status, _, body = _post(url, gzip.compress(first) + b"trailing garbage", headers={"Content-Encoding": "gzip"})
    assert status == 400 and b"trailing data after" in body
    status, _, _ = _post(url, gzip.compress(_request(_span_json("upper", span_id="00000000000000c3")).SerializeToString()),
                         headers={"Content-Encoding": "GZIP"})
    assert status == 200
    server.compact_now()
    stored = _stored(server.data.root).filter(pl.col("name").is_in(["member", "upper"]))
    assert sorted(stored["span_id"]) == ["00000000000000c1", "00000000000000c2", "00000000000000c3"]


def test_read_queries_out_of_range_are_400_with_the_reason(server):
    base = f"{server.http_endpoint}/api/v1/jobs"
    status, body = _get(f"{base}?limit=-1")
    assert status == 400 and body["error"] == "bad query parameter limit: -1 is not between 1 and 100,000"
    status, body = _get(f"{base}?limit=1000000000000")
    assert status == 400 and "is not between 1 and 100,000" in body["error"]
    status, body = _get(f"{base}?since=2026-01-01T00:00:00")
    assert status == 400 and "has no time zone" in body["error"]
    status, body = _get(f"{base}?since=yesterday")
    assert status == 400 and body["error"].startswith("bad query parameter since:")


def test_a_read_before_any_correlation_does_not_tell_the_store_path(server):
    status, body = _get(f"{server.http_endpoint}/api/v1/jobs")
    assert status == 404 and body == {"error": "no jobs have been correlated yet"}


def _typed_span(span_id: str, key: str, value: dict, **fields) -> dict:
    span = _span_json("qtenancy.job", span_id=span_id, **{"qtenancy.provenance_id": PID})
    span["attributes"].append({"key": key, "value": value})
    span.update(fields)
    return span


def test_records_that_break_the_contract_are_rejected_one_by_one_with_reasons(server):
    url = f"{server.http_endpoint}/v1/traces"
    body = _traces_json(
        _typed_span("00000000000000d1", "qtenancy.job.stages", {"intValue": "3"}),
        _typed_span("00000000000000d2", "qtenancy.billing.seconds", {"stringValue": "five"}),
        _span_json("zero trace", trace_id="0" * 32, span_id="00000000000000d3"),
        _span_json("zero span", span_id="0" * 16),
        {**_span_json("far future", span_id="00000000000000d4"), "startTimeUnixNano": str(1 << 63),
         "endTimeUnixNano": str((1 << 63) + 1)},
        {**_span_json("backwards", span_id="00000000000000d5"), "endTimeUnixNano": "1775433599000000000"},
        _typed_span("00000000000000d6", "qtenancy.billing.seconds", {"intValue": "5"}),
        _typed_span("00000000000000d8", "qtenancy.job.shots", {"boolValue": True}),
    )
    status, _, reply = _post(url, body, "application/json")
    partial = _partial(reply)
    assert status == 200 and partial["rejectedSpans"] == "7", partial
    message = partial["errorMessage"]
    assert "attribute qtenancy.job.stages must be string[], got int 3" in message
    assert "attribute qtenancy.billing.seconds must be double, got str 'five'" in message
    assert "trace ID is all zero, which OTLP calls invalid" in message
    assert message.endswith("(and 4 more)")
    for span, reason in [
        (_span_json("zero span", span_id="0" * 16), "span ID is all zero"),
        ({**_span_json("far future", span_id="00000000000000d4"), "startTimeUnixNano": str(1 << 63),
          "endTimeUnixNano": str((1 << 63) + 1)}, f"start time {1 << 63} ns is past 2262"),
        ({**_span_json("backwards", span_id="00000000000000d5"), "endTimeUnixNano": "1775433599000000000"},
         "ends (1775433599000000000) before it starts (1775433600000000000)"),
    ]:
        status, _, reply = _post(url, _traces_json(span), "application/json")
        assert status == 200 and reason in _partial(reply)["errorMessage"]
    server.compact_now()
    kept = scan(server.data.store, SPANS).filter(pl.col("span_id") == "00000000000000d6").collect()
    assert kept["qtenancy.billing.seconds"].to_list() == [5.0]
    assert scan(server.data.store, SPANS).filter(pl.col("span_id").is_in(
        ["00000000000000d1", "00000000000000d2", "00000000000000d4", "00000000000000d5", "00000000000000d8"])
    ).collect().height == 0

    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        reply = stub.Export(_request(_typed_span("00000000000000d7", "qtenancy.job.stages", {"intValue": "3"})))
        assert reply.partial_success.rejected_spans == 1
        assert "must be string[], got int" in reply.partial_success.error_message
        raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as refused:
            raw(b"\x0a\xff\xff\xff")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid OTLP/protobuf traces request" in refused.value.details()


def test_a_corrupt_jobs_table_part_is_quarantined_and_rebuilt(tmp_path):
    store, clean = tmp_path / "data" / "store", tmp_path / "clean"
    first, second = run_of(TEST_SCENARIOS / "telemetry.yaml"), run_of(TEST_SCENARIOS / "telemetry.yaml", seed=2)
    write_bulk(first, store)
    correlate(store)
    part = sorted((store / "jobs").rglob("*.parquet"))[0]
    with open(part, "r+b") as handle:
        handle.seek(part.stat().st_size // 2)
        handle.write(b"\xff" * 2048)
    write_bulk(second, store)
    result = correlate(store)
    assert list(result.quarantined) == [str(part.relative_to(store))]
    assert (tmp_path / "data" / "quarantine" / "store" / part.relative_to(store)).exists()
    for run in (first, second):
        write_bulk(run, clean)
    correlate(clean)
    assert read_jobs(store).collect().equals(read_jobs(clean).collect())
    assert correlate(store).quarantined == {}


def test_an_empty_or_tokenless_config_refuses_to_serve_unless_told_insecure(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=f"{empty}: collector config is empty"):
        load_config(empty)
    tokenless = tmp_path / "tokenless.yaml"
    tokenless.write_text(f"data_dir: {tmp_path / 'data'}\n")
    done = _cli("collector", "serve", "--config", str(tokenless), "--http-port", "0", "--grpc-port", "0")
    assert done.returncode == 2 and "no tokens, so every caller would be the platform" in done.stderr
    assert not (tmp_path / "data").exists()
    done = _cli("collector", "serve", "--config", str(empty))
    assert done.returncode == 2 and "collector config is empty" in done.stderr
    http_port = free_port()
    insecure = _serve(tmp_path / "data", http_port, free_port(), "--config", str(tokenless), "--insecure")
    try:
        _wait_healthy(http_port, insecure)
    finally:
        insecure.send_signal(signal.SIGTERM)
        insecure.communicate(timeout=60)


def test_slow_heads_and_bodies_are_cut_off(tmp_path):
    settings = tmp_path / "collector.yaml"
    settings.write_text("insecure: true\nlimits: {header_timeout_seconds: 1, body_timeout_seconds: 1}\n")
    http_port = free_port()
    server = _serve(tmp_path / "data", http_port, free_port(), "--config", str(settings))
    try:
        _wait_healthy(http_port, server)
        slow_head = socket.create_connection(("127.0.0.1", http_port))
        slow_head.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        slow_head.settimeout(10)
        try:
            while True:
                time.sleep(0.2)
                slow_head.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass
        assert time.monotonic() - began < 5, "a connection trickling its head was kept open"
        slow_body = socket.create_connection(("127.0.0.1", http_port))
        slow_body.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{\"resource")
        slow_body.settimeout(10)
        answer = slow_body.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and b"body did not arrive within 1 s" in answer
        slow_head.close()
        slow_body.close()
        assert _post(f"http://127.0.0.1:{http_port}/v1/traces", _traces_json(_span_json("after")), "application/json")[0] == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


def test_connections_past_the_file_limit_are_reported_once_not_a_traceback_each(tmp_path):
    def few_files():
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

    http_port = free_port()
    server = _serve(tmp_path / "data", http_port, free_port(), preexec_fn=few_files)
    held = []
    try:
        _wait_healthy(http_port, server)
        for _ in range(150):
            held.append(socket.create_connection(("127.0.0.1", http_port), timeout=5))
        time.sleep(3)
        for connection in held:
            connection.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                status = _post(f"http://127.0.0.1:{http_port}/v1/traces", _traces_json(_span_json("after")),
                               "application/json")[0]
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert "Traceback" not in err and len(err) < 2_000, err[:2_000]
    assert err.count("refusing connections") == 1, err


def test_a_corrupt_record_mid_segment_loses_only_itself(tmp_path):
    data = DataDir(tmp_path / "data")
    wal = WriteAheadLog(data.wal, 1 << 20)
    for n in range(3):
        rows = pl.DataFrame({"trace_id": [PID], "span_id": [f"{n + 1:016x}"], "name": ["x"],
                             "start_ns": [1775433600000000000]})
        wal.append([encode(SPANS, rows)]).result()
    wal.close()
    segment = sorted(data.wal.glob("segment-*.wal"))[0]
    raw = bytearray(segment.read_bytes())
    second = raw.index(b"QTW1", 1)
    raw[second + 40] ^= 0xFF
    segment.write_bytes(bytes(raw))
    report = compact(data)
    assert [c.reason for c in report.quarantined] == ["record checksum mismatch"]
    assert sorted(_stored(data.root)["span_id"]) == [f"{1:016x}", f"{3:016x}"]
    bad = list(data.quarantine.glob("*.bad"))
    assert len(bad) == 1 and bad[0].stat().st_size == raw.index(b"QTW1", second + 1) - second


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8 \x80", DEEP.encode()], ids=["not-utf-8", "20000-deep"])
def test_yaml_files_that_are_not_text_or_too_deep_are_named_not_tracebacks(tmp_path, content):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    for args in (["emulate", "--scenario", str(bad), "--out", str(tmp_path / "run")],
                 ["slo", "validate", str(bad)],
                 ["collector", "serve", "--config", str(bad)],
                 ["alerts", "generate", str(SCENARIOS.parent / "slo" / "specs"), "--windows", str(bad), "-o",
                  str(tmp_path / "alerts")]):
        done = _cli(*args)
        assert done.returncode != 0 and str(bad) in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert ("not UTF-8" in done.stderr) if content != DEEP.encode() else ("nested too deeply" in done.stderr)


def test_a_read_only_data_directory_and_an_output_that_is_a_file_are_named(tmp_path):
    with small_disk(tmp_path / "ro", 1 << 20) as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        done = _cli("collector", "serve", "--insecure", "--data-dir", str(disk / "data"))
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"cannot serve from data directory {disk / 'data'}: Read-only file system" in done.stderr
        done = _cli("collector", "correlate", "--data-dir", str(disk / "data"))
        assert done.returncode == 1 and "Read-only file system" in done.stderr and "Traceback" not in done.stderr
    target = tmp_path / "rules.yaml"
    target.write_text("")
    done = _cli("alerts", "generate", str(ROOT / "slo" / "specs"), "--out", str(target))
    assert done.returncode == 2 and f"cannot write the rules under {target} (it must be a directory)" in done.stderr
    assert "Traceback" not in done.stderr and target.read_text() == ""


def test_gzip_bodies_are_inflated_member_by_member_within_the_limit():
    assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"
    with pytest.raises(PayloadError) as over:
        decompress(gzip.compress(b"a" * 6) + gzip.compress(b"b" * 6), "x-gzip", 10)
    assert over.value.status == 413
    with pytest.raises(PayloadError) as cut:
        decompress(gzip.compress(b"ab")[:-4], "gzip", 10)
    assert cut.value.status == 400 and "truncated" in cut.value.message
    with pytest.raises(PayloadError) as not_gzip:
        decompress(zlib.compress(b"x"), "gzip", 10)
    assert not_gzip.value.status == 400 and "not valid gzip" in not_gzip.value.message


def test_no_store_not_correlated_and_zero_jobs_are_three_different_answers(tmp_path):
    """A data directory nobody wrote to, one that holds spans but was never correlated, and one correlated
    with no job in it (a broker that sends spans, none of them ``qtenancy.job``) each say what they are."""
    data = tmp_path / "data"
    done = _cli("slo", "report", "--data-dir", str(data))
    assert done.returncode == 1 and f"{data / 'store'}: no store here" in done.stderr
    spans = tmp_path / "spans.jsonl"
    spans.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        _span_json("http.request", span_id="eee19b7ec3c1b174")]}]}]}) + "\n")
    assert _cli("collector", "ingest", str(spans), "--data-dir", str(data)).returncode == 0
    done = _cli("incidents", "list", "--data-dir", str(data))
    assert done.returncode == 1 and "no jobs table yet; run `qtenancy collector correlate`" in done.stderr
    done = _cli("collector", "correlate", "--data-dir", str(data))
    assert done.returncode == 0 and "(no `qtenancy.job` spans in the store)" in " ".join(done.stdout.split())
    for command in (("slo", "report"), ("incidents", "list")):
        done = _cli(*command, "--data-dir", str(data))
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"{data / 'store'}: correlated, 0 jobs found (no `qtenancy.job` spans in the store)" in done.stderr
