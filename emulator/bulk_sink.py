"""The bulk sink: a run's spans and logs written straight into the collector's Parquet store.

For long scenarios, where replaying millions of jobs through OTLP would only measure the wire: the
rows are the same ones the OTLP sink exports (``emulator.telemetry_records``), spans that fault F3
drops are left out, and the layout is the collector's own, so ``qtenancy collector correlate`` reads
either the same way.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from contract.tables import LOGS, SPANS, conform, write_partitioned
from emulator.run import EmulationRun
from emulator.telemetry_records import log_records, span_records


def write_bulk(run: EmulationRun, store: Path) -> dict[str, int]:
    """Write the run into ``store`` (the collector's ``<data>/store``); returns rows written per table."""
    part = f"bulk-{run.scenario.name}-seed{run.seed}"
    spans = conform(span_records(run).filter(~pl.col("dropped")), SPANS)
    logs = conform(log_records(run), LOGS)
    write_partitioned(spans, store, SPANS, part)
    write_partitioned(logs, store, LOGS, part)
    return {SPANS: spans.height, LOGS: logs.height}
