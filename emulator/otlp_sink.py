"""A run's traces and logs through the OpenTelemetry SDK and its OTLP exporters.

Spans are handed to the SDK's processors in the order they end, as a live broker would emit them, with
the job's virtual times as timestamps and its provenance ID as the trace ID. Calibration runs are traces
of their own. Batches are exported on the caller's thread, so every span that fault F3 does not drop on
purpose reaches the exporter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import polars as pl
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from emulator.blocking_batch import BlockingBatchLogRecordProcessor, BlockingBatchSpanProcessor
from emulator.job_trace import FAILING_STAGE, present_stage_mask, stage_names, stage_spans
from emulator.run import EmulationRun
from emulator.span_loss import LossCounts, LossPlan, TelemetryLossProcessor
from qtenancy import __version__
from qtenancy.semconv import INSTRUMENTATION_SCOPE, SCHEMA_URL, STAGES, Attr, Event, Outcome, Span, Stage

BATCH_SIZE = 512
PROGRESS_EVERY = 10_000
SAMPLED = TraceFlags(TraceFlags.SAMPLED)

CALIBRATION_CHECK, METER = STAGES.index(Stage.CALIBRATION_CHECK), STAGES.index(Stage.METER)
ROOT, ADMISSION_LOG, FINISHED_LOG, CALIBRATION, CALIBRATION_LOG = range(len(STAGES), len(STAGES) + 5)
"""Kinds of item in the export stream after the stage indexes 0..9."""


class Protocol(StrEnum):
    HTTP = "http/protobuf"
    GRPC = "grpc"


@dataclass(frozen=True)
class OtlpTarget:
    """Where to export: an OTLP/HTTP base URL (``http://host:4318``) or a gRPC ``host:port``."""

    endpoint: str
    protocol: Protocol = Protocol.HTTP
    headers: tuple[tuple[str, str], ...] = ()
    gzip: bool = False
    timeout: float = 30.0

    def exporters(self) -> tuple[SpanExporter, LogRecordExporter]:
        headers = dict(self.headers)
        if self.protocol is Protocol.GRPC:
            from grpc import Compression as GrpcCompression
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

            options = {
                "endpoint": self.endpoint.removeprefix("http://"),
                "insecure": not self.endpoint.startswith("https://"),
                "headers": headers,
                "timeout": self.timeout,
                "compression": GrpcCompression.Gzip if self.gzip else None,
            }
            return GrpcSpans(**options), GrpcLogs(**options)
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = self.endpoint.rstrip("/")
        options = {
            "headers": headers,
            "timeout": self.timeout,
            "compression": Compression.Gzip if self.gzip else Compression.NoCompression,
        }
        return OTLPSpanExporter(endpoint=f"{base}/v1/traces", **options), OTLPLogExporter(
            endpoint=f"{base}/v1/logs", **options
        )


@dataclass(frozen=True)
class ExportStats:
    spans: int
    logs: int
    loss: LossCounts


class _RunResource(Resource):
    """The run's resource, hashed once: the encoders group every span by resource, hashing it each time."""

    def __init__(self, resource: Resource):
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def resource(run: EmulationRun) -> Resource:
    created = Resource.create(
        {
            "service.name": "qtenancy-broker",
            "service.namespace": "qtenancy",
            "service.version": __version__,
            "qtenancy.scenario": run.scenario.name,
            "qtenancy.seed": run.seed,
        },
        schema_url=SCHEMA_URL,
    )
    return _RunResource(created)


def calibration_trace_id(run: EmulationRun, calibration_id: int) -> int:
    """Calibration traces get IDs derived from the run, so the same seed exports the same bytes."""
    digest = hashlib.blake2b(f"{run.scenario.name}/{run.seed}/calibration/{calibration_id}".encode(), digest_size=16)
    return int.from_bytes(digest.digest(), "big")


def span_id(trace_id: int, kind: int) -> int:
    """Span IDs derived from the trace ID and the span's place in it: unique in the trace, never zero."""
    return ((trace_id & 0xFFFF_FFFF_FFFF_FFFF) ^ ((kind + 1) * 0x9E37_79B9_7F4A_7C15)) & 0xFFFF_FFFF_FFFF_FFFF or 1


def _export_stream(run: EmulationRun) -> pl.DataFrame:
    """Every span and log record of the run as (kind, ref, start_ns, end_ns), in the order they end."""
    jobs = run.jobs.lazy()
    finished = pl.col("finished_at").dt.epoch("ns")
    calibrations = run.calibrations.lazy().with_row_index("ref")
    calibration_times = {"start_ns": pl.col("started_at").dt.epoch("ns"), "end_ns": pl.col("ended_at").dt.epoch("ns")}
    return (
        pl.concat(
            [
                stage_spans(jobs).select(kind=pl.col("stage").cast(pl.Int64), ref="job_id", start_ns="start_ns", end_ns="end_ns"),
                jobs.filter(pl.col("finished_at").is_not_null()).select(
                    kind=pl.lit(ROOT), ref="job_id", start_ns=pl.col("submitted_at").dt.epoch("ns"), end_ns=finished
                ),
                jobs.select(
                    kind=pl.lit(ADMISSION_LOG), ref="job_id", start_ns=pl.col("authorized_at").dt.epoch("ns"),
                    end_ns=pl.col("authorized_at").dt.epoch("ns"),
                ),
                jobs.filter(pl.col("finished_at").is_not_null(), pl.col("outcome") != Outcome.REJECTED.value).select(
                    kind=pl.lit(FINISHED_LOG), ref="job_id", start_ns=finished, end_ns=finished
                ),
                calibrations.select(kind=pl.lit(CALIBRATION), ref="ref", **calibration_times),
                calibrations.select(kind=pl.lit(CALIBRATION_LOG), ref="ref", **calibration_times),
            ],
            how="vertical_relaxed",
        )
        .with_columns(pl.col("ref").cast(pl.Int64))
        .sort("end_ns", "kind", "ref")
        .collect()
    )


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


def _clean(attributes: dict) -> dict:
    return {k: v for k, v in attributes.items() if v is not None}


class _JobAttributes:
    """The jobs table as Python columns, so the per-span work is list indexing, not frame access."""

    ROOT_COLUMNS = {
        Attr.PROVENANCE_ID: "provenance_id",
        Attr.JOB_ID: "job_id",
        Attr.TENANT: "tenant",
        Attr.NAMESPACE: "namespace",
        Attr.PRIORITY: "priority",
        Attr.WORKLOAD: "workload",
        Attr.BACKEND: "backend",
        Attr.CONTROL_GROUP: "control_group",
        Attr.SHOTS: "shots",
        Attr.QUBITS: "qubits",
        Attr.CIRCUIT_HASH: "circuit_hash",
        Attr.CIRCUIT_FAMILY: "circuit_family",
        Attr.RESERVED: "reserved",
        Attr.CALIBRATION_ID: "calibration_id",
        Attr.CALIBRATION_AGE: "calibration_age_seconds",
        Attr.OUTCOME: "outcome",
        Attr.REASON: "reason",
        Attr.USABLE: "usable",
        Attr.FIDELITY: "measured_fidelity",
        Attr.PREDICTED_FIDELITY: "predicted_fidelity",
        Attr.BILLED_SECONDS: "billed_seconds",
        Attr.BILLED_SHOTS: "billed_shots",
    }

    def __init__(self, jobs: pl.DataFrame):
        self.columns = {attr: jobs[column].to_list() for attr, column in self.ROOT_COLUMNS.items()}
        self.trace_ids = [int(pid, 16) for pid in self.columns[Attr.PROVENANCE_ID]]
        self.detail = jobs["detail"].to_list()
        self.stages = jobs.select(stage_names(present_stage_mask())).to_series().to_list()

    def root(self, j: int) -> dict:
        attributes = {attr: values[j] for attr, values in self.columns.items()}
        attributes[Attr.STAGES] = self.stages[j]
        return _clean(attributes)

    def stage(self, j: int, stage: int) -> dict:
        c = self.columns
        attributes = {Attr.PROVENANCE_ID: c[Attr.PROVENANCE_ID][j]}
        if stage == CALIBRATION_CHECK:
            attributes[Attr.CALIBRATION_ID] = c[Attr.CALIBRATION_ID][j]
            attributes[Attr.CALIBRATION_AGE] = c[Attr.CALIBRATION_AGE][j]
        elif stage == METER:
            attributes[Attr.BILLED_SECONDS] = c[Attr.BILLED_SECONDS][j]
            attributes[Attr.BILLED_SHOTS] = c[Attr.BILLED_SHOTS][j]
        return attributes

    def log(self, j: int) -> dict:
        c = self.columns
        return _clean(
            {
                attr: c[attr][j]
                for attr in (Attr.PROVENANCE_ID, Attr.TENANT, Attr.BACKEND, Attr.OUTCOME, Attr.REASON, Attr.USABLE)
            }
        )


class _Calibrations:
    COLUMNS = {
        Attr.CALIBRATION_ID: "calibration_id",
        Attr.BACKEND: "backend",
        Attr.CONTROL_GROUP: "control_group",
        Attr.CALIBRATION_ATTEMPT: "attempt",
        Attr.CALIBRATION_T1: "t1",
        Attr.CALIBRATION_T2: "t2",
        Attr.CALIBRATION_ERROR_1Q: "error_1q",
        Attr.CALIBRATION_ERROR_2Q: "error_2q",
        Attr.CALIBRATION_READOUT_ERROR: "readout_error",
        Attr.CALIBRATION_VERDICT: "verdict",
        Attr.CALIBRATION_REASON: "reason",
        Attr.IN_ROTATION: "in_rotation",
    }

    def __init__(self, run: EmulationRun):
        self.columns = {attr: run.calibrations[column].to_list() for attr, column in self.COLUMNS.items()}
        self.trace_ids = [calibration_trace_id(run, c) for c in self.columns[Attr.CALIBRATION_ID]]

    def attributes(self, i: int) -> dict:
        return _clean({attr: values[i] for attr, values in self.columns.items()})


def export_run(
    run: EmulationRun,
    target: OtlpTarget,
    progress: Callable[[float], None] | None = None,
    pace: Callable[[int], None] | None = None,
) -> ExportStats:
    """Export the run's traces and logs to ``target``; returns what was sent and what F3 took.

    ``pace``, given a span's virtual end in nanoseconds, returns once that instant is due (real-time mode).
    """
    span_exporter, log_exporter = target.exporters()
    spans = BlockingBatchSpanProcessor(span_exporter, BATCH_SIZE)
    loss = TelemetryLossProcessor(spans, _loss_plans(run.jobs))
    logs = BlockingBatchLogRecordProcessor(log_exporter, BATCH_SIZE)
    logger_provider = LoggerProvider(resource=resource(run), shutdown_on_exit=False)
    logger_provider.add_log_record_processor(logs)
    emitter = _Emitter(run, loss, logger_provider.get_logger(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL))
    stream = _export_stream(run)
    kinds, refs = stream["kind"].to_list(), stream["ref"].to_list()
    starts, ends = stream["start_ns"].to_list(), stream["end_ns"].to_list()
    try:
        for n, (kind, ref, start, end) in enumerate(zip(kinds, refs, starts, ends), start=1):
            if pace is not None:
                pace(end)
            emitter.emit(kind, ref, start, end)
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(n / len(kinds))
    finally:
        loss.shutdown()
        logger_provider.shutdown()
    if progress is not None:
        progress(1.0)
    return ExportStats(spans=spans.batch.exported, logs=logs.batch.exported, loss=loss.counts)


class _Emitter:
    """Turns items of the export stream into SDK spans and log records."""

    def __init__(self, run: EmulationRun, loss: TelemetryLossProcessor, logger):
        self._loss = loss
        self._logger = logger
        self._resource = resource(run)
        self._scope = InstrumentationScope(INSTRUMENTATION_SCOPE, __version__, SCHEMA_URL)
        self._jobs = _JobAttributes(run.jobs)
        self._calibrations = _Calibrations(run)
        self._stage_names = [Span.stage(s) for s in STAGES]
        self._failing = {str(r): STAGES.index(s) for r, s in FAILING_STAGE.items()}

    def emit(self, kind: int, ref: int, start: int, end: int) -> None:
        if kind < ROOT:
            self._stage_span(kind, ref, start, end)
        elif kind == ROOT:
            self._root_span(ref, start, end)
        elif kind in (ADMISSION_LOG, FINISHED_LOG):
            self._job_log(kind, ref, start)
        elif kind == CALIBRATION:
            self._calibration_span(ref, start, end)
        else:
            self._calibration_log(ref, end)

    def _span(self, name: str, trace_id: int, kind: int, root: bool, attributes: dict, status: Status, start: int, end: int) -> None:
        self._loss.on_end(
            ReadableSpan(
                name,
                SpanContext(trace_id, span_id(trace_id, kind), False, SAMPLED),
                None if root else SpanContext(trace_id, span_id(trace_id, ROOT), False, SAMPLED),
                self._resource,
                attributes,
                kind=SpanKind.SERVER if kind == ROOT and name == Span.JOB.value else SpanKind.INTERNAL,
                status=status,
                start_time=start,
                end_time=end,
                instrumentation_scope=self._scope,
            )
        )

    def _log(self, trace_id: int, timestamp: int, ok: bool, body: str, attributes: dict, event: Event) -> None:
        self._logger.emit(
            LogRecord(
                timestamp=timestamp,
                observed_timestamp=timestamp,
                trace_id=trace_id,
                span_id=span_id(trace_id, ROOT),
                trace_flags=SAMPLED,
                severity_number=SeverityNumber.INFO if ok else SeverityNumber.WARN,
                severity_text="INFO" if ok else "WARN",
                body=body,
                attributes=attributes,
                event_name=event.value,
            )
        )

    def _stage_span(self, stage: int, j: int, start: int, end: int) -> None:
        reason = self._jobs.columns[Attr.REASON][j]
        failed = self._failing.get(reason) == stage
        status = Status(StatusCode.ERROR, reason) if failed else Status(StatusCode.UNSET)
        self._span(self._stage_names[stage], self._jobs.trace_ids[j], stage, False, self._jobs.stage(j, stage), status, start, end)

    def _root_span(self, j: int, start: int, end: int) -> None:
        outcome, reason = self._jobs.columns[Attr.OUTCOME][j], self._jobs.columns[Attr.REASON][j]
        ok = outcome == Outcome.SUCCEEDED.value
        status = Status(StatusCode.UNSET) if ok else Status(StatusCode.ERROR, f"{outcome}: {reason}")
        self._span(Span.JOB.value, self._jobs.trace_ids[j], ROOT, True, self._jobs.root(j), status, start, end)

    def _job_log(self, kind: int, j: int, timestamp: int) -> None:
        outcome, detail = self._jobs.columns[Attr.OUTCOME][j], self._jobs.detail[j]
        if kind == ADMISSION_LOG:
            rejected = outcome == Outcome.REJECTED.value
            event = Event.JOB_REJECTED if rejected else Event.JOB_ADMITTED
            body, ok = (f"job rejected: {detail}", False) if rejected else ("job admitted", True)
        else:
            event, ok = Event.JOB_FINISHED, outcome == Outcome.SUCCEEDED.value
            body = f"job {outcome}" + (f": {detail}" if detail else "")
        self._log(self._jobs.trace_ids[j], timestamp, ok, body, self._jobs.log(j), event)

    def _calibration_span(self, i: int, start: int, end: int) -> None:
        attributes = self._calibrations.attributes(i)
        passed = attributes[Attr.CALIBRATION_VERDICT] == "pass"
        status = Status(StatusCode.OK) if passed else Status(StatusCode.ERROR, attributes[Attr.CALIBRATION_REASON])
        self._span(Span.CALIBRATION.value, self._calibrations.trace_ids[i], ROOT, True, attributes, status, start, end)

    def _calibration_log(self, i: int, timestamp: int) -> None:
        attributes = self._calibrations.attributes(i)
        passed = attributes[Attr.CALIBRATION_VERDICT] == "pass"
        verdict = "passed" if passed else f"failed: {attributes[Attr.CALIBRATION_REASON]}"
        body = f"calibration of {attributes[Attr.BACKEND]} {verdict}"
        self._log(self._calibrations.trace_ids[i], timestamp, passed, body, attributes, Event.CALIBRATION_FINISHED)
