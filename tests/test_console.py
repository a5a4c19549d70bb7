"""The web console (`qtenancy serve`) over the game day, driven in headless Chromium: every page renders, every
chart is drawn from data, nothing fails in the browser, and a tenant signed in with its token sees nothing that
names another tenant. Run with QTENANCY_UPDATE_SCREENSHOTS=1 to refresh the README's screenshots.

Bad input tried: a token that is not the collector's (401), a tenant on a platform page (403), another tenant's
job or an incident that did not touch the tenant, an unknown provenance ID and an unknown incident (404); `serve` on a data directory without a jobs table
(exit 1) and with a collector config whose token is too short (exit 2).
"""

import asyncio
import os
import re
import shutil
import threading
from pathlib import Path

import polars as pl
import pytest
import yaml
from aiohttp import web

from collector.config import load_config
from collector.tenancy import TokenBook
from contract.billing import write_billing_terms
from contract.data_dir import BILLING_TERMS
from emulator.meter import billing_terms
from qtenancy.web.app import application
from qtenancy.web.data import ConsoleData
from slo.shipped import shipped_specs
from slo.spec_files import load_all
from slo.viewer import PROVENANCE_ID

from .conftest import ROOT, SCENARIOS, system_tool
from .prometheus_server import free_port

ADMIN = "console-admin-token-0123456789"
SCREENSHOTS = ROOT / "docs" / "images"


def _token(tenant: str) -> str:
    return f"{tenant}-console-token-0123456789"


@pytest.fixture(scope="module")
def console(game_day, game_day_store, tmp_path_factory):
    """A console on a free loopback port over the game day's data directory (with the billing terms `emulate
    --bulk` writes), with a token per tenant."""
    data = tmp_path_factory.mktemp("console-data")
    (data / "store").symlink_to(game_day_store, target_is_directory=True)
    write_billing_terms(billing_terms(game_day.scenario), data / BILLING_TERMS)
    tenants = sorted(game_day.jobs["tenant"].unique().to_list())
    config = data / "collector.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data), "tokens": {
        "admin": [ADMIN], "tenants": {t: _token(t) for t in tenants}}}))
    from qtenancy.reading import quotas_from

    reader = ConsoleData(data, load_all([shipped_specs()]), quotas_from(SCENARIOS / "game-day.yaml"))
    reader.snapshot()
    app = application(reader, TokenBook(load_config(config).tokens))
    port, loop, ready = free_port(), asyncio.new_event_loop(), threading.Event()
    runner = web.AppRunner(app)

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"http://127.0.0.1:{port}", tenants, reader
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    chromium = system_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


class Visitor:
    """One signed-in browser context, collecting every console message, page error and failed request."""

    def __init__(self, browser, base: str, token: str):
        self.base, self.problems = base, []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(180_000)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("response", lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
        self.page.goto(f"{base}/signin")
        self.page.fill("input[name=token]", token)
        with self.page.expect_navigation():
            self.page.click("button:has-text('Sign in')")

    def visit(self, path: str) -> dict:
        response = self.page.goto(f"{self.base}{path}", wait_until="load")
        charts = self.page.evaluate(
            "[...document.querySelectorAll('.chart')].map(c => ({drawn: c.dataset.drawn, points: +c.dataset.points,"
            " canvas: c.querySelector('canvas') ? c.querySelector('canvas').width : 0}))")
        return {"status": response.status, "charts": charts, "text": self.page.inner_text("body"),
                "html": self.page.content()}


def _drawn(charts: list[dict]) -> bool:
    return bool(charts) and all(c["drawn"] == "true" and c["points"] > 0 and c["canvas"] > 0 for c in charts)


def _shot(page, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("QTENANCY_UPDATE_SCREENSHOTS"):
        shutil.copyfile(path, SCREENSHOTS / name)


def test_every_platform_page_renders_with_charts_drawn_and_nothing_failing(console, browser, game_day, tmp_path):
    base, _, reader = console
    admin = Visitor(browser, base, ADMIN)
    slos = admin.visit("/")
    assert slos["status"] == 200 and "budget left" in slos["text"]
    rows = reader.slos()
    assert [r["budget_remaining"] for r in rows] == sorted(r["budget_remaining"] for r in rows)
    assert {r["status"] for r in rows} >= {"ok", "exhausted"}, "the game day spends some budgets, not all"
    _shot(admin.page, "console-slos.png", tmp_path)
    for row in rows:
        one = admin.visit(f"/slos/{row['slo']}/{row['group']}")
        assert one["status"] == 200 and len(one["charts"]) == 3 and _drawn(one["charts"]), (row, one["charts"])
        assert "page 2% in 1h: 14.4" in one["text"], row
        if row is rows[0]:
            _shot(admin.page, "console-slo.png", tmp_path)
    incidents = reader.incidents()
    assert len(incidents) == 9
    listed = admin.visit("/incidents")
    assert listed["status"] == 200 and all(i["incident"] in listed["text"] for i in incidents)
    for i in incidents:
        page = admin.visit(f"/incidents/{i['incident']}")
        assert page["status"] == 200 and "Open the postmortem" in page["text"], i["incident"]
        if i is incidents[-1]:
            _shot(admin.page, "console-incident.png", tmp_path)
        postmortem = admin.visit(f"/incidents/{i['incident']}/postmortem")
        assert postmortem["status"] == 200 and "Root cause and trigger" in postmortem["text"], i["incident"]
        assert i["incident"] in postmortem["text"]
    _shot(admin.page, "postmortem.png", tmp_path)
    admin.page.evaluate("document.evaluate(\"//h2[text()='Plots']\", document, null, 9, null).singleNodeValue.scrollIntoView()")
    _shot(admin.page, "postmortem-plots.png", tmp_path)
    backends = admin.visit("/backends")
    assert backends["status"] == 200 and len(backends["charts"]) == 2 + len(reader.backends()["names"])
    assert _drawn(backends["charts"]), backends["charts"]
    fairness = admin.visit("/fairness")
    assert fairness["status"] == 200 and "share − quota" in fairness["text"]
    provenance_id = game_day.jobs["provenance_id"].sort()[0]
    admin.page.goto(f"{base}/")
    admin.page.fill("input[name=provenance_id]", provenance_id)
    admin.page.press("input[name=provenance_id]", "Enter")
    admin.page.wait_for_url(f"{base}/jobs/{provenance_id}")
    job = admin.page.inner_text("body")
    assert "qtenancy.job" in job and "What happened" in job and "Lifecycle" in job
    assert admin.problems == []
    assert admin.visit("/jobs/" + "0" * 32)["status"] == 404
    assert admin.visit("/incidents/INC-19990101-0000")["status"] == 404
    assert admin.visit("/incidents/INC-19990101-0000/postmortem")["status"] == 404
    admin.context.close()


def _others(game_day, tenant: str) -> set[str]:
    """What names another tenant: its id, its namespaces and workloads, and its jobs' provenance IDs."""
    theirs = game_day.jobs.filter(pl.col("tenant") != tenant)
    names = set(theirs["tenant"]) | set(theirs["namespace"].drop_nulls()) | set(theirs["workload"].drop_nulls())
    mine = game_day.jobs.filter(pl.col("tenant") == tenant)
    return names - set(mine["namespace"].drop_nulls()) - set(mine["workload"].drop_nulls())


def test_a_tenant_sees_only_its_own(console, browser, game_day, tmp_path):
    """Every tenant signs in and reads its home (SLOs, statement, incidents, jobs), its incident list, every
    incident that touched it with its postmortem, and one of its jobs: no page names another tenant, its
    namespaces or workloads, or any of its jobs; the statement is the one `billing statement` prints."""
    base, tenants, reader = console
    hurt = set()
    for tenant in tenants:
        visitor = Visitor(browser, base, _token(tenant))
        others = _others(game_day, tenant)
        foreign_ids = set(game_day.jobs.filter(pl.col("tenant") != tenant)["provenance_id"])
        home = visitor.visit("/tenant")
        assert home["status"] == 200 and "Your statement" in home["text"] and "Your SLOs" in home["text"]
        view = reader.tenant_view(tenant)
        bill = view.statement
        assert bill.totals["billed_amount"] > 0 and bill.currency == "USD"
        assert f"{bill.totals['billed_amount']:,.2f} USD" in home["text"], tenant
        assert {r["group"] for r in view.slos} <= {tenant, "platform", "(no backend)",
                                                  *game_day.jobs["backend"].drop_nulls()}
        if tenant == tenants[0]:
            _shot(visitor.page, "console-tenant.png", tmp_path)
        pages = [home, visitor.visit("/incidents")]
        for i in view.incidents:
            pages.append(visitor.visit(f"/incidents/{i['incident']}"))
        if view.incidents:
            hurt.add(tenant)
            pages.append(visitor.visit(f"/incidents/{view.incidents[-1]['incident']}/postmortem"))
        own = game_day.jobs.filter(pl.col("tenant") == tenant)["provenance_id"].sort()[0]
        pages.append(visitor.visit(f"/jobs/{own}"))
        assert pages[-1]["status"] == 200 and "qtenancy.job" in pages[-1]["text"]
        for page in pages:
            assert page["status"] == 200
            named = {o for o in others if o in page["html"]}
            assert not named, (tenant, named)
            assert not foreign_ids & set(re.findall(PROVENANCE_ID, page["html"])), tenant
        assert visitor.problems == [], (tenant, visitor.problems)
        theirs = game_day.jobs.filter(pl.col("tenant") != tenant)["provenance_id"].sort()[0]
        assert visitor.visit(f"/jobs/{theirs}")["status"] == 404
        untouched = {i["incident"] for i in reader.incidents()} - {i["incident"] for i in view.incidents}
        for incident in untouched:
            assert visitor.visit(f"/incidents/{incident}")["status"] == 404
            assert visitor.visit(f"/incidents/{incident}/postmortem")["status"] == 404
        assert visitor.visit("/")["status"] == 200 and visitor.page.url.endswith("/tenant")
        assert visitor.visit("/backends")["status"] == 403
        assert visitor.visit("/fairness")["status"] == 403
        visitor.context.close()
    assert len(hurt) >= 4, f"the game day's incidents hurt most tenants, not only {sorted(hurt)}"
    stranger = Visitor(browser, base, "not-a-token-of-this-collector")
    assert "That token is not one of this collector's." in stranger.page.inner_text("body")
    stranger.context.close()


def test_serve_refuses_a_data_directory_without_jobs_and_a_bad_config(tmp_path):
    from typer.testing import CliRunner

    from qtenancy.cli import app

    done = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert done.exit_code == 1 and "no correlated jobs table under store/" in " ".join(done.output.split())
    config = tmp_path / "collector.yaml"
    config.write_text("tokens: {admin: [short]}\n")
    done = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--config", str(config)])
    assert done.exit_code == 2 and "tokens must be at least 16 characters" in " ".join(done.output.split())
