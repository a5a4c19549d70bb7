"""Where a run's telemetry is exported to, and over which OTLP transport.

Kept apart from the sink so that naming a target (the command line's options) does not load the
OpenTelemetry SDK; the exporters are built only when a run is exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.trace.export import SpanExporter


BATCH_SIZE = 512
"""Records per export request, the SDK's default batch."""


class ExportFailed(RuntimeError):
    """The exporter gave up on a batch (after its own retries): the replay stops instead of losing it."""


@dataclass
class LossCounts:
    """Spans fault F3 dropped, held back, and let through."""

    dropped: int = 0
    delayed: int = 0
    forwarded: int = 0


@dataclass(frozen=True)
class ExportStats:
    """What an export sent, and what fault F3 took on the way."""

    spans: int
    logs: int
    loss: LossCounts


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
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                OTLPLogExporter as GrpcLogs,
            )
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpans,
            )

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
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        base = self.endpoint.rstrip("/")
        options = {
            "headers": headers,
            "timeout": self.timeout,
            "compression": Compression.Gzip if self.gzip else Compression.NoCompression,
        }
        return OTLPSpanExporter(endpoint=f"{base}/v1/traces", **options), OTLPLogExporter(
            endpoint=f"{base}/v1/logs", **options
        )
