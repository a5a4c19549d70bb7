"""Telemetry throughput: jobs per second exported over OTLP/HTTP, on one core.

Run with `make bench` or `.venv/bin/python -m bench.telemetry [--days 1]` from the repository root. The
emulator and its exporter are pinned to one core; the OTLP receiver (decoding every request with
opentelemetry-proto) runs in another process on the other core, so it does not share the exporter's core.
Prints the figures; the target in issue 3 is at least 3,000 jobs per second with about 10 spans each.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from bench.month_scenario import month_scenario


def _receive(ready, stop, counts) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    from bench.otlp_receiver import HttpReceiver

    with HttpReceiver(keep=False) as receiver:
        ready.put(receiver.endpoint)
        stop.wait()
        counts.put((receiver.received.span_count, receiver.received.log_count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    context = multiprocessing.get_context("spawn")
    ready, counts, stop = context.Queue(), context.Queue(), context.Event()
    receiver = context.Process(target=_receive, args=(ready, stop, counts), daemon=True)
    receiver.start()
    endpoint = ready.get(timeout=60)

    from emulator.metrics import MetricsReplay
    from emulator.openmetrics_file import write_openmetrics
    from emulator.otlp_sink import OtlpTarget, export_run
    from emulator.run import emulate

    scenario = month_scenario(args.days)
    run = emulate(scenario, args.seed)
    jobs = run.jobs.height
    started = time.perf_counter()
    stats = export_run(run, OtlpTarget(endpoint))
    exported = time.perf_counter() - started
    stop.set()
    spans, logs = counts.get(timeout=60)
    receiver.join(timeout=60)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        samples = write_openmetrics(MetricsReplay(run), Path(tmp) / "metrics.om")
    metrics = time.perf_counter() - started
    simulation = run.simulation_seconds + run.results_seconds
    print(f"scenario: {args.days:g} days, {len(scenario.tenants)} tenants, {len(scenario.backends)} backends, seed {args.seed}")
    print(f"jobs: {jobs:,}; spans exported {stats.spans:,} ({stats.spans / jobs:.1f} per job), log records {stats.logs:,}")
    print(f"received by the OTLP receiver: {spans:,} spans, {logs:,} log records")
    print(f"OTLP/HTTP export (SDK spans and logs, protobuf encoding, HTTP): {exported:.1f} s")
    print(f"jobs per second exported: {jobs / exported:,.0f} ({stats.spans / exported:,.0f} spans/s)")
    print(f"jobs per second, emulation plus export: {jobs / (simulation + exported):,.0f}")
    print(f"OpenMetrics file (60 s scrapes): {samples:,} samples in {metrics:.1f} s")


if __name__ == "__main__":
    main()
