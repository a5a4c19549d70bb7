"""OTLP/gRPC: the trace, logs and metrics services on the same ingestion core as OTLP/HTTP.

Status codes follow the OTLP specification: INVALID_ARGUMENT for a bad request, UNAUTHENTICATED for a
bad token, RESOURCE_EXHAUSTED (rate limit) and UNAVAILABLE (disk) are retryable and carry a retry delay.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from collector.ingest import Ingestor, RateLimited
from collector.otlp_payload import Signal, response_message
from collector.tenancy import TokenBook, UnknownToken
from collector.wal import WalFullError


class _Export:
    def __init__(self, signal: Signal, ingestor: Ingestor, tokens: TokenBook, retry_after: int):
        self._signal = signal
        self._ingestor = ingestor
        self._tokens = tokens
        self._retry_after = retry_after

    def Export(self, request, context):  # noqa: N802 (the generated service's method name)
        metadata = dict(context.invocation_metadata())
        try:
            principal = self._tokens.resolve(metadata.get("authorization"))
        except UnknownToken as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            outcome, written = self._ingestor.submit(self._signal, request, principal)
            written.result()
        except (RateLimited, WalFullError, OSError) as exc:
            context.set_trailing_metadata((("grpc-retry-pushback-ms", str(self._retry_after * 1000)),))
            code = grpc.StatusCode.RESOURCE_EXHAUSTED if isinstance(exc, RateLimited) else grpc.StatusCode.UNAVAILABLE
            context.abort(code, str(exc))
        return response_message(self._signal, outcome.rejected, outcome.message)


class _Traces(_Export, trace_service_pb2_grpc.TraceServiceServicer):
    pass


class _Logs(_Export, logs_service_pb2_grpc.LogsServiceServicer):
    pass


class _Metrics(_Export, metrics_service_pb2_grpc.MetricsServiceServicer):
    pass


def grpc_server(ingestor: Ingestor, tokens: TokenBook, address: str, max_request_bytes: int, retry_after: int):
    """A started-ready (not yet started) server and the port it bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="qtenancy-grpc"),
        options=[("grpc.max_receive_message_length", max_request_bytes)],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(Signal.TRACES, ingestor, tokens, retry_after), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(Signal.LOGS, ingestor, tokens, retry_after), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        _Metrics(Signal.METRICS, ingestor, tokens, retry_after), server
    )
    port = server.add_insecure_port(address)
    return server, port
