"""Decoding OTLP request bodies: protobuf or JSON, optionally gzip-compressed, for each signal.

OTLP/JSON differs from the protobuf JSON mapping in one place that matters: trace and span IDs are
hex strings, not base64. Every failure names the signal, the encoding and the reason, so a client
can tell a bad payload (400) from an unsupported one (415) or one too large (413).
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


class Signal(StrEnum):
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"


@dataclass(frozen=True)
class Codec:
    request: type[Message]
    response: type[Message]
    partial: str
    rejected: str


CODECS = {
    Signal.TRACES: Codec(
        trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse,
        "partial_success", "rejected_spans",
    ),
    Signal.LOGS: Codec(
        logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
        "partial_success", "rejected_log_records",
    ),
    Signal.METRICS: Codec(
        metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse,
        "partial_success", "rejected_data_points",
    ),
}


class PayloadError(ValueError):
    """A request body that cannot be taken, with the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[type[PayloadError], tuple[int, str]]:
        """Raised in a decoding process, it crosses back to the server whole."""
        return type(self), (self.status, self.message)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing to inflate past ``limit`` bytes (a gzip bomb is a 413, not an OOM).

    Content codings are case-insensitive (RFC 9110). A gzip body may hold several members, which are
    one stream concatenated (RFC 1952); anything after the last member that is not a member is a 400.
    """
    coding = (encoding or "").strip().lower()
    if not coding or coding == "identity":
        return body
    if coding not in ("gzip", "x-gzip"):
        raise PayloadError(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            what = "body is not valid gzip" if not out else f"trailing data after {len(body) - len(rest):,} bytes of gzip"
            raise PayloadError(400, f"{what}: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadError(413, f"decompressed body exceeds the {limit:,}-byte limit")
        if not inflater.eof:
            raise PayloadError(400, "body is not valid gzip: truncated stream")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)


def _hex_ids_to_base64(node, path: str = "$"):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in ID_FIELDS and isinstance(value, str):
                if value == "":
                    out[key] = ""
                    continue
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raise PayloadError(400, f"{where}: {value!r} is not a hex-encoded ID") from None
                if len(raw) != ID_FIELDS[key]:
                    raise PayloadError(400, f"{where}: {key} must be {ID_FIELDS[key]} bytes, got {len(raw)}")
                out[key] = base64.b64encode(raw).decode()
            else:
                out[key] = _hex_ids_to_base64(value, where)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item, f"{path}[{i}]") for i, item in enumerate(node)]
    return node


def parse_json_document(document: object, signal: Signal) -> Message:
    message = CODECS[signal].request()
    if not isinstance(document, dict):
        raise PayloadError(400, f"OTLP/JSON {signal} request must be a JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise PayloadError(400, f"invalid OTLP/JSON {signal} request: {exc}") from None
    except RecursionError:
        raise PayloadError(400, f"OTLP/JSON {signal} request is nested too deeply") from None
    return message


def parse(signal: Signal, body: bytes, content_type: str | None) -> Message:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == PROTOBUF:
        message = CODECS[signal].request()
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise PayloadError(400, f"invalid OTLP/protobuf {signal} request: {exc}") from None
        return message
    if media == JSON:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(400, f"invalid JSON in {signal} request: {exc}") from None
        except RecursionError:
            raise PayloadError(400, f"JSON in {signal} request is nested too deeply") from None
        return parse_json_document(document, signal)
    raise PayloadError(415, f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")


def response_message(signal: Signal, rejected: int, message: str) -> Message:
    """The OTLP success response, with ``partial_success`` when anything was rejected."""
    codec = CODECS[signal]
    reply = codec.response()
    if rejected:
        partial = getattr(reply, codec.partial)
        setattr(partial, codec.rejected, rejected)
        partial.error_message = message
    return reply


def response(signal: Signal, rejected: int, message: str, content_type: str) -> bytes:
    reply = response_message(signal, rejected, message)
    if content_type == JSON:
        return json.dumps(json_format.MessageToDict(reply)).encode()
    return reply.SerializeToString()
