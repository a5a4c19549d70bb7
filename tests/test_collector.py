"""The collector: OTLP/HTTP and OTLP/gRPC from the real OpenTelemetry exporters, the responses the OTLP
specification asks for, durability across SIGKILL, tenancy, file ingestion and the correlator.

Bad input tried: a body that is not protobuf, one that is not JSON, a text/plain content type, a gzip
body that is not gzip, a gzip bomb, a body over the size limit, a JSON trace ID that is not hex, a job
span without its provenance ID, one whose provenance ID is not its trace ID, a span claiming another
tenant, a missing and an unknown token (HTTP and gRPC), a tenant over its rate, a file with a line that
is not JSON and one that is not OTLP, a write-ahead log segment with garbage appended, and the decoding
processes killed between requests.
"""

import base64
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import polars as pl
import psutil
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from bench.otlp_receiver import HttpReceiver
from collector.config import CollectorConfig, ConfigError, Limits, Tokens, load_config
from collector.correlate import (
    correlate,
    read_backend_status,
    read_calibrations,
    read_jobs,
)
from collector.otlp_payload import Signal, parse
from collector.server import CollectorServer
from collector.wal import WalFullError, WriteAheadLog, encode
from common.audit import key_path_for, load_key, verify
from contract.tables import LOGS, SPANS, scan, write_partitioned
from emulator.bulk_sink import write_bulk
from emulator.otlp_sink import export_run
from emulator.otlp_target import OtlpTarget, Protocol

from .conftest import ROOT, TEST_SCENARIOS, run_of
from .prometheus_server import free_port

ADMIN = "admin-token-0123456789abcdef"
LAB = "lab-token-0123456789abcdef"
OWNER = "owner-token-0123456789abcdef"
PID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(scope="module")
def run():
    return run_of(TEST_SCENARIOS / "telemetry.yaml")


def _config(tmp_path, **kwargs) -> CollectorConfig:
    """A collector on free ports; without tokens it is the explicitly insecure single-user one."""
    kwargs.setdefault("insecure", "tokens" not in kwargs)
    return CollectorConfig(data_dir=tmp_path / "data", http_port=0, grpc_port=0, compact_interval_seconds=0.5, **kwargs)


def _verify(log):
    """The audit log checked under the key its writer made beside it."""
    return verify(log, load_key(key_path_for(log)))


def _post(url, body: bytes, content_type="application/x-protobuf", headers=None):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _decoding_processes(parent: int | None = None) -> list[psutil.Process]:
    """The decoding processes a collector (this process, when it serves in-process) has started."""
    return [c for c in psutil.Process(parent).children() if "--multiprocessing-fork" in c.cmdline()]


def _status(body: bytes) -> str:
    return status_pb2.Status.FromString(body).message


def _span_json(name: str, trace_id: str = PID, span_id: str = "b7ad6b7169203331", **attributes) -> dict:
    return {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": "1775433600000000000", "endTimeUnixNano": "1775433601000000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def _traces_json(*spans) -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "broker"}}]}, "scopeSpans": [{"spans": list(spans)}]}]}).encode()


def _stored(data_dir, table=SPANS) -> pl.DataFrame:
    return scan(data_dir / "store", table).collect()


def test_real_exporters_over_http_and_grpc_give_the_jobs_table_the_bulk_sink_gives(run, tmp_path):
    with CollectorServer(_config(tmp_path)) as server:
        over_http = export_run(run, OtlpTarget(server.http_endpoint))
        over_grpc = export_run(run, OtlpTarget(server.grpc_endpoint, Protocol.GRPC, gzip=True))
    assert over_http.spans == over_grpc.spans > 30_000
    store = tmp_path / "data" / "store"
    assert _stored(tmp_path / "data").height == over_http.spans, "the gRPC retry of every span was de-duplicated"
    correlate(store)
    write_bulk(run, tmp_path / "bulk")
    correlate(tmp_path / "bulk")
    jobs, bulk_jobs = read_jobs(store).collect(), read_jobs(tmp_path / "bulk").collect()
    assert jobs.equals(bulk_jobs)
    assert read_calibrations(store).collect().equals(read_calibrations(tmp_path / "bulk").collect())
    status = read_backend_status(store).collect()
    assert status.equals(read_backend_status(tmp_path / "bulk").collect())
    assert status.select("backend", "up").rows() == [("lima", False), ("lima", True)]
    assert status["at"].to_list() == run.backend_status["at"].to_list()
    emulated = run.jobs.select("provenance_id", "tenant", "backend", "outcome", "finished_at", "exec_seconds",
                               "billed_seconds", "telemetry_lost_stages")
    both = jobs.join(emulated, on="provenance_id", suffix="_emulated")
    assert both.height == run.jobs.height
    for column in ("tenant", "backend", "outcome", "finished_at", "billed_seconds"):
        assert (both[column] == both[f"{column}_emulated"]).fill_null(True).all(), column
    assert (both["exec_seconds"] - both["exec_seconds_emulated"]).abs().max() < 1e-6
    lost = both.filter(pl.col("telemetry_lost_stages").list.len() > 0)
    assert not lost["complete"].any()
    assert (lost["missing_stages"].list.sort() == lost["telemetry_lost_stages"].list.sort()).all()
    unfinished = both.filter(pl.col("finished_at_emulated").is_null())
    assert unfinished.height > 0 and not unfinished["has_root"].any() and not unfinished["complete"].any()
    assert both.filter(pl.col("telemetry_lost_stages").list.len() == 0, pl.col("finished_at").is_not_null())["complete"].all()


@pytest.mark.parametrize("processes", [0, 2], ids=["decoded-on-threads", "decoded-in-processes"])
def test_each_malformed_input_gets_its_status_and_reason_and_loses_nothing(tmp_path, processes):
    limits = Limits(max_request_bytes=64 * 1024, decode_processes=processes)
    with CollectorServer(_config(tmp_path, limits=limits)) as server:
        url = f"{server.http_endpoint}/v1/traces"
        good = _traces_json(_span_json("qtenancy.job.execute", span_id="0000000000000001", **{"qtenancy.provenance_id": PID}))
        assert _post(url, good, "application/json")[0] == 200
        status, _, body = _post(url, b"\x0a\xff\xff\xff", "application/x-protobuf")
        assert status == 400 and "invalid OTLP/protobuf traces request" in _status(body)
        status, _, body = _post(url, b"{not json", "application/json")
        assert status == 400 and "invalid JSON in traces request" in json.loads(body)["message"]
        status, _, body = _post(url, b"hello", "text/plain")
        assert status == 415 and "unsupported Content-Type 'text/plain'" in _status(body)
        status, _, body = _post(url, b"not gzip", "application/x-protobuf", {"Content-Encoding": "gzip"})
        assert status == 400 and "not valid gzip" in _status(body)
        bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
        status, _, body = _post(url, bomb, "application/x-protobuf", {"Content-Encoding": "gzip"})
        assert status == 413 and "decompressed body exceeds the 65,536-byte limit" in _status(body)
        status, _, body = _post(url, b"\0" * (100 * 1024), "application/x-protobuf")
        assert status == 413 and "exceeds the 65,536-byte limit" in _status(body)
        status, _, body = _post(url, _traces_json(_span_json("x", trace_id="zz" * 16)), "application/json")
        assert status == 400
        assert "$.resourceSpans[0].scopeSpans[0].spans[0].traceId: 'zzzz" in json.loads(body)["message"]
        mixed = _traces_json(
            _span_json("qtenancy.job.queue", span_id="0000000000000002"),
            _span_json("qtenancy.job.notify", span_id="0000000000000003", **{"qtenancy.provenance_id": "f" * 32}),
            _span_json("qtenancy.job.store", span_id="0000000000000004", **{"qtenancy.provenance_id": PID}),
        )
        status, _, body = _post(url, mixed, "application/json")
        partial = json.loads(body)["partialSuccess"]
        assert status == 200 and partial["rejectedSpans"] == "2"
        assert "has no qtenancy.provenance_id" in partial["errorMessage"]
        assert f"qtenancy.provenance_id {'f' * 32} is not its trace ID" in partial["errorMessage"]
        after = _traces_json(_span_json("qtenancy.job.meter", span_id="0000000000000005", **{"qtenancy.provenance_id": PID}))
        assert _post(url, after, "application/json")[0] == 200
    stored = _stored(tmp_path / "data")
    assert sorted(stored["span_id"]) == ["0000000000000001", "0000000000000004", "0000000000000005"]


def test_a_decoding_process_that_dies_costs_a_retry_not_a_record(tmp_path):
    """Bad event tried: every decoding process SIGKILLed between two requests, over HTTP and gRPC."""
    with CollectorServer(_config(tmp_path, limits=Limits(decode_processes=2))) as server:
        url = f"{server.http_endpoint}/v1/traces"

        def span(number: int) -> bytes:
            return _traces_json(_span_json("qtenancy.job.execute", span_id=f"{number:016x}", **{"qtenancy.provenance_id": PID}))

        def kill_the_decoders() -> None:
            workers = _decoding_processes()
            assert workers, "no decoding process ran"
            for worker in workers:
                worker.kill()
            psutil.wait_procs(workers, timeout=30)

        assert _post(url, span(1), "application/json")[0] == 200
        kill_the_decoders()
        status, headers, body = _post(url, span(2), "application/json")
        assert status == 503 and headers["Retry-After"] == "1"
        assert "the process decoding this request was lost" in json.loads(body)["message"]
        assert _post(url, span(2), "application/json")[0] == 200
        kill_the_decoders()
        channel = grpc.insecure_channel(server.grpc_endpoint)
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        request = parse(Signal.TRACES, span(3), "application/json")
        with pytest.raises(grpc.RpcError) as lost:
            export(request.SerializeToString())
        assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "the process decoding this request was lost" in lost.value.details()
        export(request.SerializeToString())
        channel.close()
    assert sorted(_stored(tmp_path / "data")["span_id"]) == [f"{n:016x}" for n in (1, 2, 3)]


def test_tokens_map_data_to_tenants_and_reads_never_cross_tenants(run, tmp_path):
    tokens = Tokens(admin=[ADMIN], tenants={"lab": LAB, "owner": OWNER})
    with CollectorServer(_config(tmp_path, tokens=tokens)) as server:
        url = f"{server.http_endpoint}/v1/traces"
        status, _, body = _post(url, _traces_json(_span_json("x")), "application/json")
        assert status == 401 and "missing bearer token" in json.loads(body)["message"]
        status, _, body = _post(url, _traces_json(_span_json("x")), "application/json", {"Authorization": "Bearer nope-nope-nope-nope"})
        assert status == 401 and json.loads(body)["message"] == "unknown token"
        claims = _traces_json(_span_json("qtenancy.job", **{"qtenancy.provenance_id": PID, "qtenancy.tenant.id": "owner"}))
        status, _, body = _post(url, claims, "application/json", {"Authorization": f"Bearer {LAB}"})
        assert json.loads(body)["partialSuccess"]["errorMessage"].endswith(
            "claims tenant 'owner' but the token is 'lab''s")
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(trace_service_pb2.ExportTraceServiceRequest(), metadata=(("authorization", "Bearer wrong-wrong-wrong"),))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export_run(run, OtlpTarget(server.http_endpoint, headers=(("Authorization", f"Bearer {ADMIN}"),)))
        server.compact_now()
        correlate(server.data.store)
        status, everything = _get(f"{server.http_endpoint}/api/v1/jobs?limit=100000", ADMIN)
        assert status == 200 and {j["tenant"] for j in everything} >= {"lab", "owner"}
        status, mine = _get(f"{server.http_endpoint}/api/v1/jobs?limit=100000", OWNER)
        assert status == 200 and mine and {j["tenant"] for j in mine} == {"owner"}
        theirs = next(j["provenance_id"] for j in everything if j["tenant"] == "lab")
        assert _get(f"{server.http_endpoint}/api/v1/jobs/{theirs}/trace", OWNER)[0] == 404
        status, trace = _get(f"{server.http_endpoint}/api/v1/jobs/{theirs}/trace", LAB)
        assert status == 200 and {s["trace_id"] for s in trace["spans"]} == {theirs} and trace["logs"]
        assert _get(f"{server.http_endpoint}/api/v1/jobs", "not-a-token-at-all")[0] == 401
    trail = [json.loads(line) for line in (tmp_path / "data" / "audit.log").read_text().splitlines()]
    assert [(r["actor"], r["action"]) for r in trail] == [
        ("operator", "config"), ("admin", "read_jobs"), ("tenant:owner", "read_jobs"), ("tenant:owner", "read_trace"),
        ("tenant:lab", "read_trace")]
    assert trail[3]["detail"] == {"found": False} and _verify(tmp_path / "data" / "audit.log").ok


def test_tenant_over_its_rate_gets_429_with_retry_after(tmp_path):
    tokens = Tokens(tenants={"lab": LAB})
    limits = Limits(tenant_records_per_second=1, tenant_burst_records=4, retry_after_seconds=3)
    with CollectorServer(_config(tmp_path, tokens=tokens, limits=limits)) as server:
        url = f"{server.http_endpoint}/v1/traces"
        spans = [_span_json("x", span_id=f"{i:016x}") for i in range(1, 6)]
        auth = {"Authorization": f"Bearer {LAB}"}
        assert _post(url, _traces_json(spans[0]), "application/json", auth)[0] == 200
        status, headers, body = _post(url, _traces_json(*spans[1:]), "application/json", auth)
        assert status == 429 and headers["Retry-After"] == "3"
        assert "tenant 'lab' is over its rate limit" in json.loads(body)["message"]


def test_write_ahead_log_pushes_back_when_the_disk_is_behind(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal", max_pending_bytes=1024)
    big = encode(SPANS, pl.DataFrame({"trace_id": ["x" * 1024] * 32_768}))
    first = wal.append([big])
    with pytest.raises(WalFullError, match="bytes wait for the disk"):
        wal.append([encode(SPANS, pl.DataFrame({"trace_id": ["a"]}))])
    first.result(timeout=60)
    wal.append([encode(SPANS, pl.DataFrame({"trace_id": ["b"]}))]).result(timeout=60)
    wal.close()


def _serve(data_dir, http_port, grpc_port, *options: str, preexec_fn=None):
    """``qtenancy collector serve`` as a child process; ``options`` are more of its command-line options.

    Without ``--config`` it is the explicitly insecure single-user collector.
    """
    insecure = () if "--config" in options else ("--insecure",)
    return subprocess.Popen(
        [sys.executable, "-m", "qtenancy", "collector", "serve", "--data-dir", str(data_dir),
         "--http-port", str(http_port), "--grpc-port", str(grpc_port), *insecure, *options],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
    )


def _wait_healthy(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("collector did not come up")


def test_sigkill_mid_load_loses_no_acknowledged_span(tmp_path):
    data = tmp_path / "data"
    http_port, grpc_port = free_port(), free_port()
    server = _serve(data, http_port, grpc_port)
    _wait_healthy(http_port, server)
    acknowledged: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            spans = [_span_json("load", span_id=f"{worker + 1:04x}{n:08x}{i:04x}") for i in range(200)]
            try:
                status, _, _ = _post(f"http://127.0.0.1:{http_port}/v1/traces", _traces_json(*spans), "application/json")
            except OSError:
                return
            if status == 200:
                acknowledged.extend(s["spanId"] for s in spans)
            n += 1

    workers = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    while len(acknowledged) < 20_000:
        time.sleep(0.05)
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    for worker in workers:
        worker.join()
    assert os.listdir(data / "wal"), "acknowledged data was still in the write-ahead log when the process died"
    restarted = _serve(data, http_port, grpc_port)
    _wait_healthy(http_port, restarted)
    restarted.send_signal(signal.SIGTERM)
    out, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err
    assert "recovered" in out and "'spans':" in out, out
    stored = set(_stored(data)["span_id"])
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged spans lost"
    assert len(stored) >= len(acknowledged) >= 20_000


def test_decoding_processes_leave_when_their_collector_is_killed(tmp_path):
    """Bad event tried: the collector SIGKILLed on its own (as the out-of-memory killer does) after its decoding
    processes started; then Ctrl-C to a whole collector's process group, which must stop it without a traceback."""
    http_port = free_port()
    span = _traces_json(_span_json("qtenancy.job.execute", **{"qtenancy.provenance_id": PID}))
    started = []

    def serve() -> subprocess.Popen:
        started.append(_serve(tmp_path / "data", http_port, free_port(), "--decode-processes", "2",
                              preexec_fn=os.setpgrp))
        _wait_healthy(http_port, started[-1])
        assert _post(f"http://127.0.0.1:{http_port}/v1/traces", span, "application/json")[0] == 200
        return started[-1]

    try:
        server = serve()
        workers = _decoding_processes(server.pid)
        assert workers, "no decoding process ran"
        server.kill()
        server.communicate(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"decoding processes outlived their collector: {[p.pid for p in alive]}"

        server = serve()
        os.killpg(server.pid, signal.SIGINT)
        _, errors = server.communicate(timeout=60)
        assert server.returncode == 0 and "Traceback" not in errors, errors
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def test_corrupt_wal_tail_is_quarantined_and_the_rest_recovered(tmp_path):
    config = _config(tmp_path)
    rows = pl.DataFrame({"trace_id": [PID] * 10, "span_id": [f"{i:016x}" for i in range(10)], "name": ["x"] * 10,
                         "start_ns": [1775433600000000000] * 10})
    wal = WriteAheadLog(tmp_path / "data" / "wal", 1 << 20)
    wal.append([encode(SPANS, rows)]).result()
    wal.close()
    segment = sorted((tmp_path / "data" / "wal").glob("segment-*.wal"))[-1]
    with open(segment, "ab") as handle:
        handle.write(b"QTW1 garbage that is not a record")
    with CollectorServer(config) as server:
        recovered = server.recovered
    assert [c.reason for c in recovered.quarantined] == ["bad record header"]
    bad = list((tmp_path / "data" / "quarantine").glob("*.bad"))
    assert len(bad) == 1 and bad[0].read_bytes() == b"QTW1 garbage that is not a record"
    assert sorted(_stored(tmp_path / "data")["span_id"]) == [f"{i:016x}" for i in range(10)]


def _to_otlp_json(message) -> dict:
    def hexify(node):
        if isinstance(node, dict):
            return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                        else hexify(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [hexify(v) for v in node]
        return node

    return hexify(json_format.MessageToDict(message))


def test_file_exporter_output_is_ingested_with_bad_lines_reported(run, tmp_path):
    with HttpReceiver() as receiver:
        export_run(run, OtlpTarget(receiver.endpoint))
    lines = [json.dumps(_to_otlp_json(r)) for r in receiver.received.traces + receiver.received.logs]
    lines.insert(3, "{this is not json")
    lines.insert(7, json.dumps({"resourceSomething": []}))
    exported = tmp_path / "otel-file-exporter.json.gz"
    with gzip.open(exported, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "qtenancy", "collector", "ingest", str(exported), "--data-dir", str(data)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 1
    assert f"{exported}:4: not JSON" in done.stderr
    assert f"{exported}:8: expected exactly one of resourceSpans, resourceLogs, resourceMetrics" in done.stderr
    correlated = subprocess.run([sys.executable, "-m", "qtenancy", "collector", "correlate", "--data-dir", str(data)],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert correlated.returncode == 0, correlated.stderr
    write_bulk(run, tmp_path / "bulk")
    correlate(tmp_path / "bulk")
    assert read_jobs(data / "store").collect().equals(read_jobs(tmp_path / "bulk").collect())
    assert _stored(data, LOGS).height == receiver.received.log_count


def test_correlator_is_incremental_and_idempotent(run, tmp_path):
    store = tmp_path / "store"
    write_bulk(run, store)
    first = correlate(store)
    assert first.jobs_rebuilt == run.jobs.height
    jobs_file = sorted((store / "jobs").rglob("*.parquet"))
    before = {p: p.read_bytes() for p in jobs_file}
    again = correlate(store)
    assert (again.new_parts, again.jobs_rebuilt) == (0, 0)
    assert {p: p.read_bytes() for p in jobs_file} == before
    job = read_jobs(store).filter(~pl.col("complete"), pl.col("has_root")).collect().row(0, named=True)
    late = scan(store, SPANS).filter(pl.col("trace_id") == job["provenance_id"]).collect().head(1).with_columns(
        name=pl.lit("qtenancy.job." + job["missing_stages"][0]), span_id=pl.lit("ffffffffffffff00"))
    write_partitioned(late, store, SPANS, "late-delivery")
    third = correlate(store)
    assert (third.new_parts, third.jobs_rebuilt) == (1, 1)
    updated = read_jobs(store).filter(pl.col("provenance_id") == job["provenance_id"]).collect().row(0, named=True)
    assert len(updated["missing_stages"]) == len(job["missing_stages"]) - 1
    assert read_jobs(store).select(pl.len()).collect().item() == run.jobs.height
    status = read_backend_status(store).collect()
    back = scan(store, LOGS).filter(pl.col("event_name") == "qtenancy.backend.status", pl.col("qtenancy.backend.up"))
    again_down = back.collect().with_columns(pl.col("time_ns") + 60 * 10**9, pl.lit(False).alias("qtenancy.backend.up"))
    write_partitioned(again_down, store, LOGS, "down-again")
    fourth = correlate(store)
    assert (fourth.new_parts, fourth.jobs_rebuilt, fourth.statuses_rebuilt) == (1, 0, 1)
    assert read_backend_status(store).collect().select("up").to_series().to_list() == [False, True, False]
    assert read_backend_status(store).collect().head(2).equals(status)


def test_bad_collector_config_names_the_field(tmp_path):
    bad = tmp_path / "collector.yaml"
    bad.write_text("limits:\n  max_request_bytes: -1\ntokens:\n  tenants: {lab: short}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(bad)
    message = str(refused.value)
    assert f"{bad}: invalid collector config" in message
    assert "limits.max_request_bytes: Input should be greater than 0" in message
    assert "tokens: Value error, tokens must be at least 16 characters" in message
