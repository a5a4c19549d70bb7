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
