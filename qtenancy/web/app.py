"""The web console: aiohttp serving Jinja2 pages, with uPlot (vendored, MIT) drawing the charts in the browser.

Nothing is fetched from anywhere but this server, so it works offline. Who is looking is decided by the
collector's tokens: an admin token sees the platform, a tenant's token only that tenant's pages. Without
tokens (the embedded single-user default) every caller is the platform, as with the collector itself.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
from pathlib import Path

import jinja2
from aiohttp import web

from collector.tenancy import Principal, TokenBook, UnknownToken
from common.readable import minutes, money
from qtenancy.web.data import ConsoleData
from slo.viewer import PROVENANCE_ID

HERE = Path(__file__).parent
SESSION = "qtenancy_session"
VIEWER = web.AppKey("viewer", dict)
DATA = web.AppKey("data", ConsoleData)
TOKENS = web.AppKey("tokens", TokenBook)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def _when(value) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _number(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _money(value, currency: str) -> str:
    """An amount to the cent; none (owed for a job with no traced execution) is left blank."""
    return "" if value is None else money(value, currency)


def _percent(value) -> str:
    if value is None:
        return ""
    return f"{value:.2%}" if math.isfinite(value) else ("−∞" if value < 0 else "∞")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(when=_when, number=_number, percent=_percent, money=_money, minutes=minutes,
                       chart=lambda data: json.dumps(data, separators=(",", ":"), allow_nan=False))
    env.tests["provenance_id"] = lambda value: isinstance(value, str) and re.fullmatch(PROVENANCE_ID, value) is not None
    return env


def _principal(request: web.Request) -> Principal | None:
    tokens = request.app[TOKENS]
    if tokens.open:
        return Principal(None, True)
    return request.app[VIEWER].get(request.cookies.get(SESSION, ""))


def page(template: str, who: str = "platform"):
    """A handler that renders ``template`` for the signed-in viewer. ``who``: "platform" pages refuse tenants
    (403), "tenant" pages send the platform home, "anyone" pages read as the viewer."""

    def wrap(build):
        async def handler(request: web.Request) -> web.Response:
            principal = _principal(request)
            if principal is None:
                raise web.HTTPFound("/signin")
            if who == "platform" and not principal.admin:
                raise web.HTTPForbidden(text="this page is the platform's; sign in with an admin token")
            if who == "tenant" and principal.admin:
                raise web.HTTPFound("/")
            context = await asyncio.to_thread(build, request, request.app[DATA], principal)
            html = request.app[TEMPLATES].get_template(template).render(
                **context, principal=principal, signed_in=not request.app[TOKENS].open)
            return web.Response(text=html, content_type="text/html")
        return handler
    return wrap


def _found(value):
    if value is None:
        raise web.HTTPNotFound(text="not found")
    return value


@page("slos.html")
def slos(request, data: ConsoleData, principal):
    return {"slos": data.slos(), "title": "SLOs"}


@page("slo.html")
def slo(request, data: ConsoleData, principal):
    detail = _found(data.slo(request.match_info["name"], request.match_info["group"]))
    return {"slo": detail, "title": f"{detail['row']['slo']} ({detail['row']['group']})"}


@page("incidents.html", who="anyone")
def incidents(request, data: ConsoleData, principal):
    return {"incidents": data.incidents(principal.tenant), "title": "Incidents"}


@page("incident.html", who="anyone")
def incident(request, data: ConsoleData, principal):
    found = _found(data.incident(request.match_info["incident"], principal.tenant))
    return {"incident": found, "title": found["incident"]}


async def postmortem(request: web.Request) -> web.Response:
    """The incident's postmortem, one self-contained page, as the viewer may read it."""
    principal = _principal(request)
    if principal is None:
        raise web.HTTPFound("/signin")
    data = request.app[DATA]
    found = _found(data.incident(request.match_info["incident"], principal.tenant))
    html = await asyncio.to_thread(data.postmortem, found, principal.tenant)
    return web.Response(text=html, content_type="text/html")


@page("backends.html")
def backends(request, data: ConsoleData, principal):
    return {"backends": data.backends(), "title": "Backends"}


@page("fairness.html")
def fairness(request, data: ConsoleData, principal):
    return {"shares": data.fairness(), "title": "Fairness"}


async def search(request: web.Request) -> web.Response:
    provenance_id = request.query.get("provenance_id", "").strip().lower()
    raise web.HTTPFound(f"/jobs/{provenance_id}" if provenance_id else "/")


@page("job.html", who="anyone")
def job(request, data: ConsoleData, principal):
    job = _found(data.job(principal.tenant, request.match_info["provenance_id"]))
    return {"job": job, "title": f"Job {job['explanation'].provenance_id}"}


@page("tenant.html", who="tenant")
def tenant(request, data: ConsoleData, principal):
    view = data.tenant_view(principal.tenant)
    return {"title": principal.tenant, "slos": view.slos, "jobs": data.jobs(principal.tenant),
            "incidents": view.incidents, "statement": view.statement, "days": view.statement.days.to_dicts(),
            "disputed": view.disputed}


async def signin_form(request: web.Request) -> web.Response:
    html = request.app[TEMPLATES].get_template("signin.html").render(
        title="Sign in", error="", principal=None, signed_in=False)
    return web.Response(text=html, content_type="text/html")


async def signin(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        principal = request.app[TOKENS].resolve(f"Bearer {form.get('token', '')}")
    except UnknownToken:
        html = request.app[TEMPLATES].get_template("signin.html").render(
            title="Sign in", error="That token is not one of this collector's.", principal=None, signed_in=False)
        return web.Response(text=html, content_type="text/html", status=401)
    session = secrets.token_urlsafe(32)
    request.app[VIEWER][session] = principal
    response = web.HTTPFound("/" if principal.admin else "/tenant")
    response.set_cookie(SESSION, session, httponly=True, samesite="Strict")
    raise response


async def signout(request: web.Request) -> web.Response:
    request.app[VIEWER].pop(request.cookies.get(SESSION, ""), None)
    response = web.HTTPFound("/signin")
    response.del_cookie(SESSION)
    raise response


async def home(request: web.Request) -> web.Response:
    principal = _principal(request)
    if principal is not None and not principal.admin:
        raise web.HTTPFound("/tenant")
    return await slos(request)


async def no_icon(request: web.Request) -> web.Response:
    """Pages the console did not write (the postmortem) let the browser ask for a favicon: there is none."""
    return web.Response(status=204)


def application(data: ConsoleData, tokens: TokenBook) -> web.Application:
    app = web.Application()
    app[DATA], app[TOKENS], app[VIEWER], app[TEMPLATES] = data, tokens, {}, environment()
    app.add_routes([
        web.get("/", home), web.get("/slos/{name}/{group}", slo),
        web.get("/incidents", incidents), web.get("/incidents/{incident}", incident),
        web.get("/incidents/{incident}/postmortem", postmortem),
        web.get("/backends", backends), web.get("/fairness", fairness),
        web.get("/search", search), web.get("/jobs/{provenance_id}", job), web.get("/tenant", tenant),
        web.get("/signin", signin_form), web.post("/signin", signin), web.get("/signout", signout),
        web.get("/favicon.ico", no_icon), web.static("/static", HERE / "static"),
    ])
    return app

