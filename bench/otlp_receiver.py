"""A minimal OTLP receiver on loopback (HTTP/protobuf and gRPC) decoding with opentelemetry-proto.

It stands in for the collector in the emulator's telemetry benchmark and tests: it keeps every decoded
request (or only counts them) so tests can look at exactly what crossed the wire.
"""

from __future__ import annotations

import gzip
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

REQUESTS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


class Received:
    """What arrived: decoded requests per path, or only span and log counts when ``keep`` is off."""

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.lock = threading.Lock()
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.logs: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.span_count = 0
        self.log_count = 0
        self.headers: list[dict[str, str]] = []

    def add(self, request, headers: dict[str, str]) -> None:
        with self.lock:
            self.headers.append(headers)
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.span_count += sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
                if self.keep:
                    self.traces.append(request)
            else:
                self.log_count += sum(len(s.log_records) for rl in request.resource_logs for s in rl.scope_logs)
                if self.keep:
                    self.logs.append(request)

    def spans(self):
        for request in self.traces:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    yield from ((resource_spans.resource, span) for span in scope_spans.spans)

    def log_records(self):
        for request in self.logs:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    yield from scope_logs.log_records


class _Handler(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        kinds = REQUESTS.get(self.path)
        if kinds is None:
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = kinds[0]()
        request.ParseFromString(body)
        self.received.add(request, {k.lower(): v for k, v in self.headers.items()})
        reply = kinds[1]().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        return


class HttpReceiver:
    def __init__(self, keep: bool = True):
        self.received = Received(keep)
        handler = type("Handler", (_Handler,), {"received": self.received})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received):
        self.received = received

    def Export(self, request, context):  # noqa: N802 (generated service name)
        self.received.add(request, dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received):
        self.received = received

    def Export(self, request, context):  # noqa: N802 (generated service name)
        self.received.add(request, dict(context.invocation_metadata()))
        return logs_service_pb2.ExportLogsServiceResponse()


class GrpcReceiver:
    def __init__(self, keep: bool = True):
        self.received = Received(keep)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self.received), self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsService(self.received), self._server)
        self._port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._port}"

    def __enter__(self) -> GrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)
