"""OTLP/HTTP on /v1/traces, /v1/logs and /v1/metrics, answering as the OTLP specification says.

200 with ``partial_success`` when some records were rejected; 400 with the reason for a malformed body;
401 for a missing or unknown token; 408 for a body that does not arrive in time; 413 for a body over
the limit (compressed or inflated) or a request larger than the tenant's burst; 415 for an unsupported
content type or encoding; 429 (tenant over its rate) and 503 (disk backlog, a failed write or a lost
decoding process) with Retry-After, before anything is acknowledged, so the client's retry loses nothing.
Error bodies are ``google.rpc.Status`` in the request's encoding.

Decoding and checking run on a thread pool (which may hand the decoding to processes), never on the event
loop, so one large request does not stall the other clients; a tenant over its rate is refused before its
body is decoded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path

from aiohttp import web
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from collector.config import Limits
from collector.decoding import DecoderLost
from collector.ingest import Ingestor, OverBurst, RateLimited
from collector.otlp_payload import (
    JSON,
    PROTOBUF,
    PayloadError,
    Signal,
    response,
)
from collector.reads import as_documents, jobs_for, trace_for
from collector.tenancy import TokenBook, UnknownToken
from collector.tenant_reads import TenantReads
from collector.wal import WalFullError
from common.audit import AuditLog
from contract.tables import NoJobs

GRPC_CODE = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 408: code_pb2.DEADLINE_EXCEEDED,
             413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT, 429: code_pb2.RESOURCE_EXHAUSTED,
             503: code_pb2.UNAVAILABLE}
MAX_LIMIT = 100_000
"""The most jobs one read returns; page with ``since`` for more."""


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


def _json_error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": message}), content_type=JSON)


def _instant(request: web.Request, name: str) -> datetime | None:
    if name not in request.query:
        return None
    try:
        value = datetime.fromisoformat(request.query[name])
    except ValueError as exc:
        raise _json_error(web.HTTPBadRequest, f"bad query parameter {name}: {exc}") from None
    if value.tzinfo is None:
        raise _json_error(web.HTTPBadRequest, f"bad query parameter {name}: {request.query[name]!r} has no time "
                                              "zone (write e.g. 2026-01-01T00:00:00Z)")
    return value


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "1000")
    try:
        limit = int(raw)
    except ValueError:
        raise _json_error(web.HTTPBadRequest, f"bad query parameter limit: {raw!r} is not a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _json_error(web.HTTPBadRequest, f"bad query parameter limit: {limit} is not between 1 and {MAX_LIMIT:,}")
    return limit


class OtlpHttpApp:
    def __init__(self, ingestor: Ingestor, tokens: TokenBook, limits: Limits, store: Path, audit: AuditLog,
                 decoders: Executor, health: Callable[[], list[str]], reads: TenantReads | None = None):
        self._store = store
        self._reads = reads
        self._audit = audit
        self._ingestor = ingestor
        self._tokens = tokens
        self._limits = limits
        self._limit = limits.max_request_bytes
        self._retry_after = limits.retry_after_seconds
        self._decoders = decoders
        self._health = health

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._limit, handler_args={"auto_decompress": False})
        for signal in Signal:
            app.router.add_post(f"/v1/{signal.value}", self._handler(signal))
        app.router.add_get("/-/healthy", self._healthy)
        app.router.add_get("/api/v1/jobs", self._jobs)
        app.router.add_get("/api/v1/jobs/{provenance_id}/trace", self._trace)
        if self._reads is not None:
            reads = self._reads
            app.router.add_get("/api/v1/jobs/{provenance_id}/explain", self._answer(
                "read_explain", lambda caller, r: reads.explain(caller, r.match_info["provenance_id"])))
            app.router.add_get("/api/v1/billing", self._answer(
                "read_billing", lambda caller, r: reads.statement(caller, r.query.get("tenant"), _instant(r, "from"),
                                                                  _instant(r, "to"))))
            app.router.add_get("/api/v1/slo/report", self._answer(
                "read_slo_report", lambda caller, r: reads.slo_report(caller, r.query.get("tenant"))))
            app.router.add_get("/api/v1/incidents", self._answer(
                "read_incidents", lambda caller, r: reads.incidents(caller, r.query.get("tenant"), _instant(r, "from"),
                                                                    _instant(r, "to"))))
            app.router.add_get("/api/v1/incidents/{incident}/postmortem", self._answer(
                "read_postmortem", lambda caller, r: reads.postmortem(caller, r.query.get("tenant"),
                                                                      r.match_info["incident"])))
        return app

    def _reader(self, request: web.Request):
        try:
            return self._tokens.resolve(request.headers.get("Authorization"))
        except UnknownToken as exc:
            raise _json_error(web.HTTPUnauthorized, str(exc)) from None

    async def _record(self, actor: str, action: str, subject: str, **detail) -> None:
        """Every read is audited; a read that cannot be recorded (a full disk) is refused, not served."""
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._decoders, lambda: self._audit.append(actor, action, subject, **detail))
        except OSError as exc:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": f"cannot record this read in the audit trail: {exc.strerror or exc}"}),
                content_type=JSON, headers={"Retry-After": str(self._retry_after)}) from None

    async def _jobs(self, request: web.Request) -> web.Response:
        principal = self._reader(request)
        since, until, limit = _instant(request, "since"), _instant(request, "until"), _limit(request)
        try:
            jobs = await asyncio.get_running_loop().run_in_executor(
                self._decoders, jobs_for, self._store, principal, since, until, limit)
        except NoJobs:
            jobs = None
        except FileNotFoundError:
            raise _json_error(web.HTTPNotFound, "no jobs have been correlated yet") from None
        await self._record(_actor(principal), "read_jobs", request.path_qs, rows=0 if jobs is None else jobs.height)
        return web.Response(text="[]" if jobs is None else jobs.write_json(), content_type=JSON)

    async def _trace(self, request: web.Request) -> web.Response:
        principal = self._reader(request)
        pid = request.match_info["provenance_id"]
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                self._decoders, trace_for, self._store, principal, pid)
        except FileNotFoundError:
            found = None
        await self._record(_actor(principal), "read_trace", pid, found=found is not None)
        if found is None:
            raise _json_error(web.HTTPNotFound, f"no job {pid}")
        spans, logs = found
        body = {"spans": as_documents(spans), "logs": as_documents(logs)}
        return web.Response(text=json.dumps(body), content_type=JSON)

    def _answer(self, action: str, read: Callable[[str | None, web.Request], dict]):
        """A read the analysis answers, off the event loop and audited; what the caller may not see is 404."""
        async def handle(request: web.Request) -> web.Response:
            principal = self._reader(request)
            try:
                body = await asyncio.get_running_loop().run_in_executor(self._decoders, read, principal.tenant, request)
            except LookupError as exc:
                await self._record(_actor(principal), action, request.path_qs, found=False)
                raise _json_error(web.HTTPNotFound, str(exc).strip("'\"")) from None
            await self._record(_actor(principal), action, request.path_qs, found=True)
            return web.Response(text=json.dumps(body, sort_keys=True, default=str), content_type=JSON)

        return handle

    async def _healthy(self, request: web.Request) -> web.Response:
        problems = self._health()
        if problems:
            return web.Response(status=503, text="degraded: " + "; ".join(problems) + "\n")
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
            self._ingestor.precheck(principal)
        except RateLimited as exc:
            return _error(request, 429, str(exc), max(self._retry_after, exc.retry_after))
        try:
            body = await asyncio.wait_for(request.read(), self._limits.body_timeout_seconds)
        except web.HTTPRequestEntityTooLarge:
            return _error(request, 413, f"body exceeds the {self._limit:,}-byte limit")
        except TimeoutError:
            return _error(request, 408, f"body did not arrive within {self._limits.body_timeout_seconds:g} s")
        try:
            outcome, written = await asyncio.get_running_loop().run_in_executor(
                self._decoders, self._ingestor.submit_body, signal, body, request.headers.get("Content-Type"),
                request.headers.get("Content-Encoding"), principal)
        except PayloadError as exc:
            return _error(request, exc.status, exc.message)
        except OverBurst as exc:
            return _error(request, 413, str(exc))
        except RateLimited as exc:
            return _error(request, 429, str(exc), max(self._retry_after, exc.retry_after))
        except WalFullError as exc:
            return _error(request, 503, f"collector is behind on disk writes: {exc}", self._retry_after)
        except DecoderLost as exc:
            return _error(request, 503, f"{exc}; nothing of this request was kept", self._retry_after)
        try:
            await asyncio.wrap_future(written)
        except OSError as exc:
            return _error(request, 503, f"could not persist the request: {exc.strerror or exc}", self._retry_after)
        media = _media(request)
        return web.Response(body=response(signal, outcome.rejected, outcome.message, media), content_type=media)
