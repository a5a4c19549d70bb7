"""OTLP/gRPC: the trace, logs and metrics services on the same ingestion core as OTLP/HTTP.

Status codes follow the OTLP specification: INVALID_ARGUMENT for a bad request (the body is decoded here,
not by gRPC, so a malformed message is INVALID_ARGUMENT with the reason rather than INTERNAL),
UNAUTHENTICATED for a bad token, RESOURCE_EXHAUSTED (rate limit) and UNAVAILABLE (disk, or a lost decoding
process) are retryable
and carry a retry delay; a request larger than the tenant's burst is RESOURCE_EXHAUSTED without one.
"""

from __future__ import annotations

from concurrent import futures

import grpc

from collector.config import Limits
from collector.decoding import DecoderLost
from collector.ingest import Ingestor, OverBurst, RateLimited
from collector.otlp_payload import (
    CODECS,
    PROTOBUF,
    PayloadError,
    Signal,
    response_message,
)
from collector.tenancy import TokenBook, UnknownToken
from collector.wal import WalFullError

SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
}


class _Export:
    def __init__(self, signal: Signal, ingestor: Ingestor, tokens: TokenBook, retry_after: int):
        self._signal = signal
        self._ingestor = ingestor
        self._tokens = tokens
        self._retry_after = retry_after

    def _retryable(self, context, code: grpc.StatusCode, message: str, seconds: int) -> None:
        context.set_trailing_metadata((("grpc-retry-pushback-ms", str(max(seconds, self._retry_after) * 1000)),))
        context.abort(code, message)

    def __call__(self, body: bytes, context):
        metadata = dict(context.invocation_metadata())
        try:
            principal = self._tokens.resolve(metadata.get("authorization"))
        except UnknownToken as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        try:
            self._ingestor.precheck(principal)
            outcome, written = self._ingestor.submit_body(self._signal, body, PROTOBUF, None, principal)
            written.result()
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except OverBurst as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except RateLimited as exc:
            self._retryable(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), exc.retry_after)
        except DecoderLost as exc:
            self._retryable(context, grpc.StatusCode.UNAVAILABLE, f"{exc}; nothing of this request was kept", 0)
        except (WalFullError, OSError) as exc:
            self._retryable(context, grpc.StatusCode.UNAVAILABLE, f"could not persist the request: {exc}", 0)
        return response_message(self._signal, outcome.rejected, outcome.message)


def grpc_server(ingestor: Ingestor, tokens: TokenBook, address: str, limits: Limits):
    """A ready (not yet started) server and the port it bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=limits.decode_workers, thread_name_prefix="qtenancy-grpc"),
        options=[("grpc.max_receive_message_length", limits.max_request_bytes)],
    )
    for signal, service in SERVICES.items():
        export = grpc.unary_unary_rpc_method_handler(
            _Export(signal, ingestor, tokens, limits.retry_after_seconds),
            request_deserializer=None,
            response_serializer=CODECS[signal].response.SerializeToString,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": export}),))
    port = server.add_insecure_port(address)
    return server, port
