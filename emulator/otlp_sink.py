"""A run's traces and logs through the OpenTelemetry SDK and its OTLP exporters.

Spans are handed to the SDK's processors in the order they end, as a live broker would emit them, with
the job's virtual times as timestamps and its provenance ID as the trace ID. Calibration runs are traces
of their own. Batches are exported on the caller's thread, so every span that fault F3 does not drop on
purpose reaches the exporter.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from common.version import VERSION
from contract.semconv import INSTRUMENTATION_SCOPE, SCHEMA_URL, STAGES
from emulator.blocking_batch import (
    BlockingBatchLogRecordProcessor,
    BlockingBatchSpanProcessor,
)
from emulator.otlp_target import BATCH_SIZE, ExportStats, LossCounts, OtlpTarget
from emulator.span_loss import LossPlan, TelemetryLossProcessor
from emulator.telemetry_records import (
    ATTRIBUTES_OF_GROUP,
    KIND_INTERNAL,
    KIND_SERVER,
    SERVICE_NAME,
    SEVERITY_INFO,
    SEVERITY_WARN,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_UNSET,
    log_records,
    span_records,
)

PROGRESS_EVERY = 10_000
SAMPLED = TraceFlags(TraceFlags.SAMPLED)

if TYPE_CHECKING:
    from emulator.run import EmulationRun


class _RunResource(Resource):
    """The run's resource, hashed once: the encoders group every span by resource, hashing it each time."""

    def __init__(self, resource: Resource):
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def resource(scenario: str, seed: int) -> Resource:
    """The resource of a run's telemetry: the broker and the run, beside what the SDK adds (its name and
    version, anything set in ``OTEL_RESOURCE_ATTRIBUTES``)."""
    created = Resource.create(
        {
            "service.name": SERVICE_NAME,
            "service.namespace": "qtenancy",
            "service.version": VERSION,
            "qtenancy.scenario": scenario,
            "qtenancy.seed": seed,
        },
        schema_url=SCHEMA_URL,
    )
    return _RunResource(created)


def _loss_plans(jobs: pl.DataFrame) -> dict[int, LossPlan]:
    stage_bit = {s.value: 1 << i for i, s in enumerate(STAGES)}
    hit = jobs.filter(
        (pl.col("telemetry_lost_stages").list.len() > 0) | (pl.col("telemetry_delay_seconds") > 0)
    ).select(
        "provenance_id",
        mask=pl.col("telemetry_lost_stages").list.eval(pl.element().replace_strict(stage_bit, return_dtype=pl.Int64)).list.sum(),
        delay_ns=(pl.col("telemetry_delay_seconds") * 1e9).cast(pl.Int64),
    )
    return {
        int(pid, 16): LossPlan(int(mask), int(delay))
        for pid, mask, delay in zip(hit["provenance_id"], hit["mask"], hit["delay_ns"])
    }


@dataclass(frozen=True)
class _Shard:
    """A share of a run's telemetry (whole traces) as plain Python data: all an exporter process needs, so a
    forked process never touches polars, whose thread pool does not survive a fork."""

    spans: dict[str, list]
    logs: dict[str, list]
    channels: list[int]
    rows: list[int]
    plans: dict[int, LossPlan]


def _shards(run: EmulationRun, count: int) -> list[_Shard]:
    spans, logs, plans = span_records(run).drop("dropped", "delay_ns"), log_records(run), _loss_plans(run.jobs)
    share = pl.col("trace_id").str.slice(24).str.to_integer(base=16) % count
    shards = []
    for k in range(count):
        mine, their_logs = spans.filter(share == k), logs.filter(share == k)
        order = (
            pl.concat(
                [
                    mine.select(t="end_ns", c=pl.lit(0)).with_row_index("i"),
                    their_logs.select(t="time_ns", c=pl.lit(1)).with_row_index("i"),
                ],
                how="vertical_relaxed",
            )
            .sort("t", "c", "i")
        )
        shards.append(_Shard(mine.to_dict(as_series=False), their_logs.to_dict(as_series=False), order["c"].to_list(),
                             order["i"].to_list(), plans))
    return shards


def _export_shard(shard: _Shard, target: OtlpTarget, run_resource: Resource,
                  progress: Callable[[float], None] | None, pace: Callable[[int], None] | None) -> ExportStats:
    span_exporter, log_exporter = target.exporters()
    spans = BlockingBatchSpanProcessor(span_exporter, BATCH_SIZE)
    loss = TelemetryLossProcessor(spans, shard.plans)
    logs = BlockingBatchLogRecordProcessor(log_exporter, BATCH_SIZE)
    logger_provider = LoggerProvider(resource=run_resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(logs)
    emitter = _Emitter(shard, run_resource, loss, logger_provider.get_logger(INSTRUMENTATION_SCOPE, VERSION, schema_url=SCHEMA_URL))
    times = (shard.spans["end_ns"], shard.logs["time_ns"])
    emit = (emitter.span, emitter.log)
    total = len(shard.rows)
    try:
        for n, (channel, i) in enumerate(zip(shard.channels, shard.rows), start=1):
            if pace is not None:
                pace(times[channel][i])
            emit[channel](i)
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(n / total)
    finally:
        loss.shutdown()
        logger_provider.shutdown()
    if progress is not None:
        progress(1.0)
    return ExportStats(spans=spans.batch.exported, logs=logs.batch.exported, loss=loss.counts)


_FORKED: tuple[list[_Shard], OtlpTarget, Resource, object] | None = None
"""What forked exporter processes inherit: the shards, the target, the resource and their progress slots."""


def _export_forked(k: int) -> ExportStats:
    shards, target, run_resource, fractions = _FORKED

    def report(fraction: float) -> None:
        fractions[k] = fraction

    return _export_shard(shards[k], target, run_resource, report, None)


def export_run(
    run: EmulationRun,
    target: OtlpTarget,
    progress: Callable[[float], None] | None = None,
    pace: Callable[[int], None] | None = None,
    workers: int = 1,
) -> ExportStats:
    """Export the run's traces and logs to ``target``; returns what was sent and what F3 took.

    ``pace``, given a span's virtual end in nanoseconds, returns once that instant is due (real-time mode).
    With ``workers`` > 1, that many forked processes export a share of the traces each: the SDK's encoding
    is CPU-bound Python, so one process saturates one core.
    """
    global _FORKED
    if workers > 1 and pace is not None:
        raise ValueError("real-time export paces one stream: it cannot be split across workers")
    shards, run_resource = _shards(run, workers), resource(run.scenario.name, run.seed)
    if workers == 1:
        return _export_shard(shards[0], target, run_resource, progress, pace)
    context = multiprocessing.get_context("fork")
    fractions = context.Array("d", workers, lock=False)
    _FORKED = (shards, target, run_resource, fractions)
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_export_forked, k) for k in range(workers)]
            while wait(futures, timeout=0.25).not_done:
                if progress is not None:
                    progress(sum(fractions) / workers)
            results = [f.result() for f in futures]
    finally:
        _FORKED = None
    if progress is not None:
        progress(1.0)
    return ExportStats(
        spans=sum(r.spans for r in results), logs=sum(r.logs for r in results),
        loss=LossCounts(*(sum(getattr(r.loss, f) for r in results) for f in ("dropped", "delayed", "forwarded"))),
    )


class _Emitter:
    """Turns rows of the run's span and log records into SDK spans and log records."""

    SPAN_KINDS = {KIND_INTERNAL: SpanKind.INTERNAL, KIND_SERVER: SpanKind.SERVER}
    STATUS = {STATUS_UNSET: StatusCode.UNSET, STATUS_OK: StatusCode.OK, STATUS_ERROR: StatusCode.ERROR}
    SEVERITY = {SEVERITY_INFO: SeverityNumber.INFO, SEVERITY_WARN: SeverityNumber.WARN}

    def __init__(self, shard: _Shard, run_resource: Resource, loss: TelemetryLossProcessor, logger):
        self._loss = loss
        self._logger = logger
        self._resource = run_resource
        self._scope = InstrumentationScope(INSTRUMENTATION_SCOPE, VERSION, SCHEMA_URL)
        self.spans = shard.spans
        self.logs = shard.logs

    @staticmethod
    def _attributes(columns: dict[str, list], i: int) -> dict:
        values = ((name, columns[name][i]) for name in ATTRIBUTES_OF_GROUP[columns["group"][i]])
        return {name: value for name, value in values if value is not None}

    def span(self, i: int) -> None:
        c = self.spans
        trace_id = int(c["trace_id"][i], 16)
        parent = c["parent_span_id"][i]
        status = self.STATUS[c["status_code"][i]]
        self._loss.on_end(
            ReadableSpan(
                c["name"][i],
                SpanContext(trace_id, int(c["span_id"][i], 16), False, SAMPLED),
                None if parent is None else SpanContext(trace_id, int(parent, 16), False, SAMPLED),
                self._resource,
                self._attributes(c, i),
                kind=self.SPAN_KINDS[c["kind"][i]],
                status=Status(status, c["status_message"][i] if status is StatusCode.ERROR else None),
                start_time=c["start_ns"][i],
                end_time=c["end_ns"][i],
                instrumentation_scope=self._scope,
            )
        )

    def log(self, i: int) -> None:
        c = self.logs
        self._logger.emit(
            LogRecord(
                timestamp=c["time_ns"][i],
                observed_timestamp=c["time_ns"][i],
                trace_id=int(c["trace_id"][i], 16),
                span_id=int(c["span_id"][i], 16),
                trace_flags=SAMPLED,
                severity_number=self.SEVERITY[c["severity_number"][i]],
                severity_text=c["severity_text"][i],
                body=c["body"][i],
                attributes=self._attributes(c, i),
                event_name=c["event_name"][i],
            )
        )
