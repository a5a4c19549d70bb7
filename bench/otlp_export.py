"""OTLP export of a recorded run into `qtenancy collector serve`: the fast replay beside the SDK's exporter.

Run with `.venv/bin/python -m bench.otlp_export [--days 1]`. One run is emulated and written, then sent over
OTLP/HTTP (protobuf) into a fresh collector twice: by the OpenTelemetry SDK's exporter (the anchor, in the
same run, on the same spans) and by the fast replay. The exporter runs in this process pinned to core 0, the
collector in its own process pinned to core 1. Figures: spans per second of wall time, spans per CPU second
of the exporter (its rate on one core), the collector's spans per CPU second (it must keep up), and the peak
RSS of exporter and collector together. Then the encoders alone (CPU seconds), without the network, on the same
spans.
Targets in issue 20: at least 100,000 spans/s on one core and 6x the SDK's exporter.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl
import psutil

from bench.month_scenario import month_scenario
from bench.usage import PeakRss, cpu_seconds
from common.readable import count, rate, size


def _into_collector(export, work: Path) -> tuple[object, float, float, float, int]:
    """What was sent, wall seconds, exporter CPU seconds, collector CPU seconds and the peak RSS of both."""
    from emulator.otlp_target import OtlpTarget
    from qtenancy.stack import free_port, start_collector, stop

    port = free_port()
    collector = start_collector(work, work / "data", port, free_port())
    try:
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(collector.pid, {1})
        server = psutil.Process(collector.pid)
        server_cpu = sum(server.cpu_times()[:2])
        with PeakRss(os.getpid(), collector.pid) as peak:
            cpu, started = cpu_seconds(), time.perf_counter()
            stats = export(OtlpTarget(f"http://127.0.0.1:{port}"))
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        server_cpu = sum(server.cpu_times()[:2]) - server_cpu
    finally:
        stop([collector])
    return stats, wall, cpu, server_cpu, peak.peak


def _encoders(run) -> tuple[float, float, int]:
    """CPU seconds of the SDK's encoder and of the columnar one over the same spans (no network), and how many."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from emulator.otlp_sink import export_run, resource
    from emulator.otlp_target import OtlpTarget
    from emulator.otlp_wire import Envelope, span_entries
    from emulator.telemetry_records import span_records

    memory = InMemorySpanExporter()

    class InMemory(OtlpTarget):
        def exporters(self):
            return memory, InMemoryLogRecordExporter()

    export_run(run, InMemory("memory"))
    spans = memory.get_finished_spans()
    started = cpu_seconds()
    for k in range(0, len(spans), 512):
        encode_spans(spans[k:k + 512]).SerializeToString()
    sdk = cpu_seconds() - started
    frame = span_records(run).filter(~pl.col("dropped"))
    started = cpu_seconds()
    envelope = Envelope.of(dict(resource(run.scenario.name, run.seed).attributes))
    entries = span_entries(frame)
    for k in range(0, len(entries), 512):
        envelope.request(entries.row_bytes(k, min(k + 512, len(entries))))
    return sdk, cpu_seconds() - started, len(spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {0})
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    from emulator.otlp_replay import RecordedRun, replay
    from emulator.otlp_sink import export_run
    from emulator.run import emulate
    from emulator.run_output import write_run

    run = emulate(month_scenario(options.days), options.seed)
    print(f"scenario: {options.days:g} days, {count(run.jobs.height)} jobs, seed {options.seed}")
    with tempfile.TemporaryDirectory(prefix="qtenancy-bench-") as tmp:
        work = Path(tmp)
        write_run(run, work / "run")
        recorded = RecordedRun(work / "run", run.scenario.name, run.seed)
        measured = {}
        for name, export in (("SDK exporter (anchor)", lambda target: export_run(run, target)),
                             ("fast replay", lambda target: replay(recorded, target))):
            (work / name).mkdir()
            measured[name] = _into_collector(export, work / name)
    anchor = None
    for name, (stats, wall, cpu, server_cpu, peak) in measured.items():
        per_core = stats.spans / cpu
        anchor = anchor or per_core
        print(f"{name}: {count(stats.spans)} spans and {count(stats.logs)} log records into qtenancy collector serve "
              f"in {wall:,.1f} s ({rate(stats.spans, wall, 'spans')} wall); exporter {rate(stats.spans, cpu, 'spans')} "
              f"per CPU second ({per_core / anchor:.1f}x the anchor); collector {rate(stats.spans, server_cpu, 'spans')} "
              f"per CPU second; peak RSS of exporter and collector {size(peak)}")
    sdk, fast, spans = _encoders(run)
    print(f"encoders alone on the same {count(spans)} spans, per CPU second: SDK {rate(spans, sdk, 'spans')}, "
          f"columnar {rate(spans, fast, 'spans')} ({sdk / fast:.1f}x the anchor)")


if __name__ == "__main__":
    main()
