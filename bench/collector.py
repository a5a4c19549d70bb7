"""Collector throughput: sustained OTLP/HTTP ingestion over loopback, and correlation of a million jobs.

Run with `make bench` or `.venv/bin/python -m bench.collector [--ingest-seconds 30] [--jobs 1000000]`.
Ingestion: `qtenancy collector serve` runs as its own process pinned to one core; clients on the other
core replay protobuf requests of 512 spans (a real run's telemetry, captured from the OTLP exporter) over
keep-alive connections; the figures are spans per second acknowledged and the p99 request latency, beside
the throughput of protobuf decoding alone (and decoding plus flattening) measured in this process.
Correlation: a run of about a million jobs is written by the bulk sink and correlated from scratch.
Targets in issue 4: 50,000 spans/s on one core; 1,000,000 jobs (about 10 million spans) in under 30 s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.month_scenario import month_scenario

ROOT = Path(__file__).resolve().parent.parent
JOBS_PER_DAY = 74_607
"""Jobs per day of the benchmark scenario at seed 1, to size the correlation run."""


def _capture(days: float) -> list[bytes]:
    from bench.otlp_receiver import HttpReceiver
    from emulator.otlp_sink import OtlpTarget, export_run
    from emulator.run import emulate

    run = emulate(month_scenario(days), 1)
    with HttpReceiver() as receiver:
        export_run(run, OtlpTarget(receiver.endpoint))
    return [r.SerializeToString() for r in receiver.received.traces if len(r.resource_spans[0].scope_spans[0].spans) == 512]


def _decode(requests: list[bytes]) -> tuple[float, float]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from collector.otlp_payload import Signal
    from collector.records import flatten

    spans = 512 * len(requests)
    started = time.perf_counter()
    messages = []
    for body in requests:
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        messages.append(message)
    parsed = time.perf_counter()
    for message in messages:
        flatten(Signal.TRACES, message, None)
    flattened = time.perf_counter()
    return spans / (parsed - started), spans / (flattened - started)


def _ingest(requests: list[bytes], seconds: float, clients: int) -> tuple[int, list[float], float]:
    from qtenancy.stack import free_port

    data = Path(tempfile.mkdtemp(prefix="qtenancy-bench-"))
    port, grpc_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qtenancy", "collector", "serve", "--insecure", "--data-dir", str(data), "--http-port", str(port),
         "--grpc-port", str(grpc_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(cores) > 1:
        os.sched_setaffinity(server.pid, {0})
        os.sched_setaffinity(0, {1})
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    latencies: list[float] = []
    acknowledged = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = offset
        while time.monotonic() < stop_at:
            body = requests[n % len(requests)]
            started = time.perf_counter()
            connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            reply = connection.getresponse()
            reply.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if reply.status == 200:
                    acknowledged[0] += 512
            n += clients
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    if len(cores) > 1:
        os.sched_setaffinity(0, cores)
    server.terminate()
    server.wait(timeout=300)
    return acknowledged[0], latencies, wall


def _correlate(jobs: int) -> tuple[int, int, float]:
    from collector.correlate import correlate
    from emulator.bulk_sink import write_bulk
    from emulator.run import emulate

    run = emulate(month_scenario(jobs / JOBS_PER_DAY), 1)
    store = Path(tempfile.mkdtemp(prefix="qtenancy-bench-store-"))
    written = write_bulk(run, store)
    started = time.perf_counter()
    result = correlate(store)
    elapsed = time.perf_counter() - started
    assert result.jobs_total == run.jobs.height, (result, run.jobs.height)
    return run.jobs.height, written["spans"], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to correlate (0: skip)")
    args = parser.parse_args()
    requests = _capture(0.1)
    parse_rate, flatten_rate = _decode(requests)
    spans, latencies, wall = _ingest(requests, args.ingest_seconds, args.clients)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"requests replayed: {len(requests)} distinct protobuf requests of 512 spans, {args.clients} clients")
    print(f"ingested over OTLP/HTTP (acknowledged after fsync): {spans:,} spans in {wall:.1f} s = {spans / wall:,.0f} spans/s")
    print(f"request latency: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"protobuf decoding alone: {parse_rate:,.0f} spans/s; decoding and flattening: {flatten_rate:,.0f} spans/s")
    if args.jobs:
        jobs, span_rows, seconds = _correlate(args.jobs)
        print(f"correlation from scratch: {jobs:,} jobs from {span_rows:,} spans in {seconds:.1f} s")


if __name__ == "__main__":
    main()
