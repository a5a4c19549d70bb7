"""Reliability and security: the audit trail, isolation and secrets, a corrupt store part, a full disk, and a
bounded load that must meet backpressure instead of growing without bound.

Bad input and faults tried: a Parquet part overwritten in its middle and one cut short; a write-ahead log on
a file system that refuses to grow (RLIMIT_FSIZE, the way a full disk refuses); eight clients sending as fast
as they can into a small write backlog and a tenant rate limit; a collector configuration changed between
two starts.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from bench.otlp_receiver import HttpReceiver
from collector.correlate import correlate, read_jobs
from collector.store import DataDir
from common.audit import AuditLog, key_path_for, load_key
from contract.tables import LOGS, SPANS
from emulator.bulk_sink import write_bulk
from emulator.otlp_sink import OtlpTarget, export_run
from emulator.run_output import write_run
from qtenancy.stack import free_port

from .conftest import ROOT, TEST_SCENARIOS, run_of
from .test_collector import (
    _post,
    _serve,
    _span_json,
    _stored,
    _traces_json,
    _verify,
    _wait_healthy,
)

ADMIN = "admin-token-0123456789abcdef"
LAB = "lab-token-0123456789abcdef"


@pytest.fixture(scope="module")
def run():
    return run_of(TEST_SCENARIOS / "telemetry.yaml")


def test_corrupt_parquet_parts_are_quarantined_and_the_rest_correlated(run, tmp_path):
    store, clean = tmp_path / "data" / "store", tmp_path / "clean" / "store"
    write_bulk(run, store)
    write_bulk(run_of(TEST_SCENARIOS / "telemetry.yaml", seed=2), store)
    parts = sorted(p.relative_to(store) for p in (store / SPANS).glob("day=*/*seed2.parquet"))
    logs = sorted(p.relative_to(store) for p in (store / LOGS).glob("day=*/*seed1.parquet"))
    shutil.copytree(store, clean)
    overwritten, cut = store / parts[0], store / logs[0]
    with open(overwritten, "r+b") as handle:
        handle.seek(overwritten.stat().st_size // 2)
        handle.write(b"\xff" * 4096)
    os.truncate(cut, cut.stat().st_size // 3)
    for bad in (parts[0], logs[0]):
        (clean / bad).unlink()

    result = correlate(store)
    assert sorted(result.quarantined) == sorted([str(parts[0]), str(logs[0])])
    for bad in (parts[0], logs[0]):
        moved = tmp_path / "data" / "quarantine" / "store" / bad
        assert moved.exists() and not (store / bad).exists()
        assert moved.with_name(moved.name + ".reason").read_text().strip() == result.quarantined[str(bad)]
    correlate(clean)
    assert read_jobs(store).collect().equals(read_jobs(clean).collect())
    assert read_jobs(store).collect().height == result.jobs_total > 0
    again = correlate(store)
    assert again.new_parts == 0 and again.quarantined == {}


def test_a_part_whose_damage_still_decodes_is_quarantined_before_anything_is_written(run, tmp_path):
    """A part whose damage polars reads without complaint (one value's bytes changed in an uncompressed page, so
    only its page CRC tells) is still quarantined, and none of its wrong values reach the jobs table."""
    store, clean = tmp_path / "data" / "store", tmp_path / "clean" / "store"
    write_bulk(run, store)
    write_bulk(run_of(TEST_SCENARIOS / "telemetry.yaml", seed=2), store)
    damaged = sorted((store / SPANS).glob("day=*/*seed2.parquet"))[0]
    pq.write_table(pq.read_table(damaged), damaged, compression="none", write_page_checksum=True)
    shutil.copytree(store, clean)
    (clean / damaged.relative_to(store)).unlink()
    data = bytearray(damaged.read_bytes())
    at = data.index(b"qtenancy.job.execute")
    data[at + len(b"qtenancy.job.")] = ord("X")
    damaged.write_bytes(bytes(data))
    assert pl.read_parquet(damaged)["name"].str.starts_with("qtenancy.job.Xxecute").any()

    result = correlate(store)
    assert list(result.quarantined) == [str(damaged.relative_to(store))]
    assert "checksum" in result.quarantined[str(damaged.relative_to(store))].lower()
    correlate(clean)
    assert read_jobs(store).collect().equals(read_jobs(clean).collect())


def _limited_serve(data, http_port, grpc_port, file_bytes):
    """The collector on a file system that refuses writes past ``file_bytes`` per file, like a full disk."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    return _serve(data, http_port, grpc_port, preexec_fn=limit)


def test_full_disk_gets_503_and_loses_nothing_acknowledged(tmp_path):
    data = tmp_path / "data"
    http_port, grpc_port = free_port(), free_port()
    server = _limited_serve(data, http_port, grpc_port, 256 * 1024)
    _wait_healthy(http_port, server)
    url = f"http://127.0.0.1:{http_port}/v1/traces"
    acknowledged, refused = [], []
    for n in range(200):
        spans = [_span_json("disk", span_id=f"{n + 1:08x}{i:08x}") for i in range(100)]
        status, headers, body = _post(url, _traces_json(*spans), "application/json")
        if status == 200:
            acknowledged += [s["spanId"] for s in spans]
        else:
            refused.append((status, headers.get("Retry-After"), json.loads(body)["message"]))
        if len(refused) >= 3:
            break
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert acknowledged, "nothing fitted before the disk filled"
    assert refused and all(status == 503 and retry == "1" for status, retry, _ in refused), refused
    assert all("could not persist the request" in message and "too large" in message for *_, message in refused)

    restarted = _serve(data, http_port, grpc_port)
    _wait_healthy(http_port, restarted)
    restarted.send_signal(signal.SIGTERM)
    restarted.communicate(timeout=60)
    stored = set(_stored(data)["span_id"])
    assert set(acknowledged) <= stored
    assert not (set(stored) - set(acknowledged)), "a refused request was stored after all"


def _config_file(path, **limits) -> str:
    path.write_text(yaml.safe_dump({
        "tokens": {"admin": [ADMIN], "tenants": {"lab": LAB}},
        "limits": {"retry_after_seconds": 2, **limits},
    }))
    return str(path)


def test_bounded_load_meets_backpressure_not_unbounded_memory(tmp_path):
    """Eight clients for ten seconds: throughput, p99 and memory are measured; pressure answers 429/503."""
    config = _config_file(tmp_path / "collector.yaml", max_pending_bytes=256 * 1024,
                          tenant_records_per_second=2000)
    data = tmp_path / "data"
    http_port = free_port()
    server = _serve(data, http_port, free_port(), "--config", config)
    _wait_healthy(http_port, server)
    process = psutil.Process(server.pid)
    rss_start = process.memory_info().rss
    url = f"http://127.0.0.1:{http_port}/v1/traces"
    results: list[tuple[int, float, str | None, int, list[str]]] = []
    peak = [rss_start]
    stop = threading.Event()

    def client(worker: int) -> None:
        token = LAB if worker < 2 else ADMIN
        n = 0
        while not stop.is_set():
            ids = [f"{worker + 1:04x}{n:06x}{i:06x}" for i in range(500)]
            body = _traces_json(*[_span_json("load", span_id=s) for s in ids])
            began = time.perf_counter()
            status, headers, _ = _post(url, body, "application/json", {"Authorization": f"Bearer {token}"})
            results.append((status, time.perf_counter() - began, headers.get("Retry-After"), worker, ids))
            n += 1

    def watch() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], process.memory_info().rss)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)] + [threading.Thread(target=watch)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(10)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=120)

    ok = [r for r in results if r[0] == 200]
    latencies = sorted(r[1] for r in ok)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    by_status = {s: sum(1 for r in results if r[0] == s) for s in {r[0] for r in results}}
    figures = {"acknowledged_spans_per_second": round(len(ok) * 500 / elapsed), "p99_ms": round(p99 * 1000, 1),
               "rss_start_mb": rss_start >> 20, "rss_peak_mb": peak[0] >> 20, "responses": by_status}
    print(json.dumps(figures))
    assert set(by_status) <= {200, 429, 503}, figures
    assert by_status.get(429, 0) > 0, figures               # the rate-limited tenant was pushed back
    assert by_status.get(503, 0) > 0, figures               # and everyone, while the disk was behind
    assert all(r[2] == "2" for r in results if r[0] in (429, 503)), "pushback without Retry-After"
    assert all(r[3] < 2 for r in results if r[0] == 429)    # only the limited tenant's clients, never the admin's
    assert figures["acknowledged_spans_per_second"] > 5000, figures
    assert peak[0] - rss_start < 400 << 20, figures          # the backlog bound holds memory, whatever the offered load
    stored = set(_stored(data)["span_id"])
    assert {s for r in ok for s in r[4]} <= stored


def test_audit_trail_records_submissions_config_changes_and_reads(run, tmp_path):
    paths = write_run(run, tmp_path / "run")
    submitted = _verify(paths["audit.log"])
    assert submitted.ok and submitted.records == run.jobs.height
    records = [json.loads(line) for line in paths["audit.log"].read_text().splitlines()]
    refused = [r for r in records if not r["detail"]["admitted"]]
    assert len(refused) == run.jobs.filter(pl.col("outcome") == "rejected").height > 0
    assert {r["actor"] for r in records} == {"tenant:lab", "tenant:owner", "unknown-key"}
    assert records[0]["time"] <= records[-1]["time"]

    data = tmp_path / "data"
    first = _config_file(tmp_path / "first.yaml")
    second = _config_file(tmp_path / "second.yaml", tenant_records_per_second=50)
    for config in (first, first, second):
        http_port = free_port()
        server = _serve(data, http_port, free_port(), "--config", config)
        _wait_healthy(http_port, server)
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
        assert LAB not in out + err and ADMIN not in out + err
    write_bulk(run, DataDir(data).store)
    done = subprocess.run([sys.executable, "-m", "qtenancy", "collector", "correlate", "--data-dir", str(data)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "qtenancy", "slo", "report", "--data-dir", str(data), "--tenant", "lab",
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    log = AuditLog(data / "audit.log", load_key(key_path_for(data / "audit.log")))
    trail = [json.loads(line) for line in log.path.read_text().splitlines()]
    configs = [r for r in trail if r["action"] == "config"]
    assert [c["detail"]["changed"] for c in configs] == [False, False, True]
    assert configs[-1]["detail"]["limits"]["tenant_records_per_second"] == 50
    assert configs[0]["detail"]["tenants"] == ["lab"] and configs[0]["detail"]["admin_tokens"] == 1
    text = log.path.read_text()
    assert LAB not in text and ADMIN not in text
    report = trail[-1]
    assert report["action"] == "slo_report" and report["subject"] == "lab" and report["actor"].startswith("cli:")
    assert _verify(log.path).ok


def test_telemetry_carries_no_secret_no_result_and_no_circuit(run):
    """API keys (revoked ones included), measured counts and circuit text never leave the broker; a hash does."""
    with HttpReceiver() as receiver:
        export_run(run, OtlpTarget(receiver.endpoint))
    received = receiver.received
    everything = "".join(str(request) for request in received.traces + received.logs)
    for tenant in run.scenario.tenants:
        assert tenant.api_key not in everything
    names = {a.key for _, span in received.spans() for a in span.attributes}
    names |= {a.key for record in received.log_records() for a in record.attributes}
    assert "qtenancy.circuit.hash" in names
    assert not [n for n in names if any(word in n for word in ("count", "qasm", "key", "token", "secret", "bitstring"))]
    hashes = {a.value.string_value for _, span in received.spans() for a in span.attributes if a.key == "qtenancy.circuit.hash"}
    assert hashes and all(len(h) >= 16 and set(h) <= set("0123456789abcdef") for h in hashes)
    assert "measure" not in everything and "OPENQASM" not in everything
