"""OTLP/HTTP on /v1/traces, /v1/logs and /v1/metrics, answering as the OTLP specification says.

200 with ``partial_success`` when some records were rejected; 400 with the reason for a malformed body;
401 for a missing or unknown token; 413 for a body over the limit (compressed or inflated); 415 for an
unsupported content type or encoding; 429 (tenant over its rate) and 503 (disk backlog or a failed
write) with Retry-After, before anything is acknowledged, so the client's retry loses nothing.
Error bodies are ``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

from aiohttp import web
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from collector.ingest import Ingestor, RateLimited
from collector.otlp_payload import (
    JSON,
    PROTOBUF,
    PayloadError,
    Signal,
    decompress,
    parse,
    response,
)
from collector.reads import jobs_for, trace_for
from collector.tenancy import TokenBook, UnknownToken
from collector.wal import WalFullError
from qtenancy.audit import AuditLog

GRPC_CODE = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.RESOURCE_EXHAUSTED,
             415: code_pb2.INVALID_ARGUMENT, 429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE}


def _media(request: web.Request) -> str:
    media = (request.content_type or "").lower()
    return JSON if media == JSON else PROTOBUF


def _error(request: web.Request, status: int, message: str, retry_after: int | None = None) -> web.Response:
    body = status_pb2.Status(code=GRPC_CODE.get(status, code_pb2.UNKNOWN), message=message)
    media = _media(request)
    data = json.dumps(json_format.MessageToDict(body)).encode() if media == JSON else body.SerializeToString()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.Response(status=status, body=data, content_type=media, headers=headers)


def _actor(principal) -> str:
    return "admin" if principal.admin else f"tenant:{principal.tenant}"


class OtlpHttpApp:
    def __init__(self, ingestor: Ingestor, tokens: TokenBook, max_request_bytes: int, retry_after: int, store: Path,
                 audit: AuditLog):
        self._store = store
        self._audit = audit
        self._ingestor = ingestor
        self._tokens = tokens
        self._limit = max_request_bytes
        self._retry_after = retry_after

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._limit, handler_args={"auto_decompress": False})
        for signal in Signal:
            app.router.add_post(f"/v1/{signal.value}", self._handler(signal))
        app.router.add_get("/-/healthy", self._healthy)
        app.router.add_get("/api/v1/jobs", self._jobs)
        app.router.add_get("/api/v1/jobs/{provenance_id}/trace", self._trace)
        return app

    def _reader(self, request: web.Request):
        try:
            return self._tokens.resolve(request.headers.get("Authorization"))
        except UnknownToken as exc:
            raise web.HTTPUnauthorized(text=json.dumps({"error": str(exc)}), content_type=JSON) from None

    async def _jobs(self, request: web.Request) -> web.Response:
        principal = self._reader(request)
        try:
            since, until = (
                datetime.fromisoformat(request.query[k]) if k in request.query else None for k in ("since", "until")
            )
            limit = int(request.query.get("limit", "1000"))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"bad query parameter: {exc}"}), content_type=JSON) from None
        try:
            jobs = await asyncio.get_running_loop().run_in_executor(None, jobs_for, self._store, principal, since, until, limit)
        except FileNotFoundError as exc:
            raise web.HTTPNotFound(text=json.dumps({"error": str(exc)}), content_type=JSON) from None
        self._audit.append(_actor(principal), "read_jobs", request.path_qs, rows=jobs.height)
        return web.Response(text=jobs.write_json(), content_type=JSON)

    async def _trace(self, request: web.Request) -> web.Response:
        principal = self._reader(request)
        pid = request.match_info["provenance_id"]
        try:
            found = await asyncio.get_running_loop().run_in_executor(None, trace_for, self._store, principal, pid)
        except FileNotFoundError:
            found = None
        self._audit.append(_actor(principal), "read_trace", pid, found=found is not None)
        if found is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no job {pid}"}), content_type=JSON)
        spans, logs = found
        body = {"spans": json.loads(spans.write_json()), "logs": json.loads(logs.write_json())}
        return web.Response(text=json.dumps(body), content_type=JSON)

    async def _healthy(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    def _handler(self, signal: Signal):
        async def handle(request: web.Request) -> web.Response:
            return await self._export(signal, request)

        return handle

    async def _export(self, signal: Signal, request: web.Request) -> web.Response:
        try:
            principal = self._tokens.resolve(request.headers.get("Authorization"))
        except UnknownToken as exc:
            return _error(request, 401, str(exc))
        if request.content_length is not None and request.content_length > self._limit:
            return _error(request, 413, f"body of {request.content_length:,} bytes exceeds the {self._limit:,}-byte limit")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(request, 413, f"body exceeds the {self._limit:,}-byte limit")
        try:
            body = decompress(body, request.headers.get("Content-Encoding"), self._limit)
            message = parse(signal, body, request.headers.get("Content-Type"))
        except PayloadError as exc:
            return _error(request, exc.status, exc.message)
        try:
            outcome, written = self._ingestor.submit(signal, message, principal)
        except RateLimited as exc:
            return _error(request, 429, str(exc), self._retry_after)
        except WalFullError as exc:
            return _error(request, 503, f"collector is behind on disk writes: {exc}", self._retry_after)
        try:
            await asyncio.wrap_future(written)
        except OSError as exc:
            return _error(request, 503, f"could not persist the request: {exc.strerror or exc}", self._retry_after)
        media = _media(request)
        return web.Response(body=response(signal, outcome.rejected, outcome.message, media), content_type=media)
