"""Batching processors that export on the caller's thread and never drop.

The SDK's batch processors drop data when their queue is full, which suits a live service under
overload but not a replay of a recorded run: here the producer waits for the exporter instead, so
backpressure slows the replay and every span and log record is delivered, in a reproducible order.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from emulator.otlp_target import ExportFailed


class _Batch:
    def __init__(self, exporter: SpanExporter | LogRecordExporter, success: object, what: str, size: int):
        self._exporter = exporter
        self._success = success
        self._what = what
        self._size = size
        self._items: list = []
        self.exported = 0

    def add(self, item) -> None:
        self._items.append(item)
        if len(self._items) >= self._size:
            self.flush()

    def flush(self) -> bool:
        if self._items:
            items, self._items = self._items, []
            if self._exporter.export(items) != self._success:
                raise ExportFailed(f"the {self._what} exporter failed on a batch of {len(items)} {self._what}s")
            self.exported += len(items)
        return True

    def shutdown(self) -> None:
        self.flush()
        self._exporter.shutdown()


class BlockingBatchSpanProcessor(SpanProcessor):
    def __init__(self, exporter: SpanExporter, batch_size: int = 512):
        self.batch = _Batch(exporter, SpanExportResult.SUCCESS, "span", batch_size)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return

    def on_end(self, span: ReadableSpan) -> None:
        self.batch.add(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.batch.flush()

    def shutdown(self) -> None:
        self.batch.shutdown()


class BlockingBatchLogRecordProcessor(LogRecordProcessor):
    def __init__(self, exporter: LogRecordExporter, batch_size: int = 512):
        self.batch = _Batch(exporter, LogRecordExportResult.SUCCESS, "log record", batch_size)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.batch.add(log_record)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.batch.flush()

    def shutdown(self) -> None:
        self.batch.shutdown()
