"""Incidents, postmortems and the demo.

Bad input tried: a window that ends before it starts, an instant that is not ISO 8601, an incident ID
that does not exist, neither a window nor an incident, a ground-truth file that is not one, and a data
directory with no jobs table; each exits non-zero with a message naming what was wrong.
"""

import csv
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contract.tables import SIGNAL_SCHEMA
from qtenancy.cli import app
from slo.incidents import group, incidents
from tests.conftest import SCENARIOS, system_tool

runner = CliRunner()
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _signal(alert: str, start_min: int, detected_min: int, end_min: int, backends=(), tenants=(), severity="page",
            kind="slo_burn"):
    return {"signal": kind, "alert": alert, "severity": severity, "backends": list(backends), "tenants": list(tenants),
            "suspect": None, "start": T0 + timedelta(minutes=start_min), "detected_at": T0 + timedelta(minutes=detected_min),
            "end": T0 + timedelta(minutes=end_min), "jobs": 1, "first_job": None, "evidence": alert}


def test_signals_group_by_overlap_and_shared_cause():
    signals = pl.DataFrame([
        _signal("A", 0, 10, 60, backends=["perth"], kind="calibration_failing"),
        _signal("B", 50, 55, 120, backends=["perth"], tenants=["qchem"]),              # a burn held on perth
        _signal("C", 100, 130, 140, tenants=["qchem"], severity="ticket", kind="starvation"),  # qchem's, as B
        _signal("D", 20, 25, 40, backends=["manila"], tenants=["initech"], kind="backend_down"),  # hurt someone else
        _signal("G", 5, 70, 110, tenants=["qchem"], severity="ticket", kind="billing_delta"),   # qchem's meter
        _signal("E", 171, 175, 200, backends=["perth"], kind="drift"),                # 31 min after C ends: apart
        _signal("F", 190, 195, 210),                                                  # no cause named: alone
    ], schema=SIGNAL_SCHEMA)
    grouped = group(signals)
    by_alert = dict(zip(grouped["alert"], grouped["incident"], strict=True))
    assert by_alert["A"] == by_alert["B"] == by_alert["C"] == "INC-20260302-0000"
    assert by_alert["D"] == "INC-20260302-0020", "an outage joins only what shares its backend or the tenants it hurt"
    assert by_alert["G"] == "INC-20260302-0005", "a billing ticket is its own incident and moves no outage's start"
    assert by_alert["E"] == "INC-20260302-0251"
    assert by_alert["F"] == "INC-20260302-0310"
    found = incidents(grouped).filter(pl.col("incident") == "INC-20260302-0000").row(0, named=True)
    assert found["severity"] == "page"
    assert found["minutes_to_detect"] == 10.0          # first alert 10 min after the first sign of impact
    assert found["minutes_to_resolve"] == 130.0        # M10: impact ends at 140, 130 min after that alert
    assert found["backends"] == ["perth"] and found["tenants"] == ["qchem"]
    assert found["alerts"] == ["A", "B", "C"]


def _incidents(data: Path, *extra: str) -> dict:
    done = _cli("incidents", "list", "--data-dir", str(data), "--format", "json", *extra)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _data_dir(store: Path, directory: Path) -> Path:
    """A collector data directory around a correlated store."""
    (directory / "store").symlink_to(store, target_is_directory=True)
    return directory


@pytest.fixture(scope="module")
def game_day_dir(game_day, game_day_store, tmp_path_factory) -> tuple[Path, Path]:
    """The game day's store in a collector data directory, beside its ground truth."""
    data = _data_dir(game_day_store, tmp_path_factory.mktemp("game-day-data"))
    truth = data / "ground_truth.json"
    truth.write_text(json.dumps(game_day.ground_truth))
    return data, truth


def test_every_injected_fault_is_one_incident_with_its_scope(game_day_dir):
    data, truth = game_day_dir
    body = _incidents(data, "--ground-truth", str(truth))
    found = {i["incident"]: i for i in body["incidents"]}
    faults = {f["fault"]: f for f in body["faults"]}
    assert set(faults) == {"F1", "F2", "F3", "F4", "F5", "hybrid-timeout", "backend-outage"}
    for fault in faults.values():
        assert len(fault["incidents"]) == 1, fault
    scope = {name: found[f["incidents"][0]] for name, f in faults.items()}
    assert "perth" in scope["F1"]["backends"] and "QtenancyCalibrationFailing" in scope["F1"]["alerts"]
    assert scope["F2"]["tenants"] == ["quantum-ml"] and scope["F2"]["alerts"] == ["QtenancySchedulerStarvation"]
    assert scope["F3"]["backends"] == ["nairobi"] and scope["F3"]["alerts"] == ["TelemetryCompletenessErrorBudgetBurn"]
    assert scope["F4"]["backends"] == ["manila", "quito"] and scope["F4"]["suspects"] == ["startup"], \
        "the victims' backend and the one the flood ran on"
    assert scope["F4"]["tenants"] == ["fintech", "physics", "qchem", "quantum-ml", "uni-lab"], \
        "those whose results ran beside the flood on manila, not all that ran, and never the aggressor"
    assert scope["F5"]["tenants"] == ["fintech"] and scope["F5"]["alerts"] == ["QtenancyBillingDelta"]
    assert scope["hybrid-timeout"]["tenants"] == ["qchem"]
    assert "perth" in scope["backend-outage"]["backends"] and "QtenancyBackendDown" in scope["backend-outage"]["alerts"]
    delay = {name: f["minutes_to_detect"] for name, f in faults.items()}
    # F3 from 06:00, but no job ran on nairobi (to lose its spans) before 07:30
    assert delay == pytest.approx({"F1": 90.0, "F2": 65.0, "F3": 95.0, "F4": 10.0, "F5": 5.2,
                                   "hybrid-timeout": 35.0, "backend-outage": 0.0}, abs=0.1)
    # the seven faults, and fintech's results under its 0.6 floor on perth in the hours after F1 and the outage
    assert len(found) == 9


def test_calm_week_has_no_incident(calm_store, tmp_path):
    assert _incidents(_data_dir(calm_store, tmp_path))["incidents"] == []


def _postmortem(data: Path, out: Path, *args: str):
    return _cli("postmortem", "--data-dir", str(data), "-o", str(out), *args)


def test_an_incident_of_one_instant_has_its_postmortem_too(game_day_dir, tmp_path):
    """Odd input: an incident whose impact began and ended with one job (fintech's result under its floor on
    perth after F1); `postmortem --incident` takes the ID as `incidents list` gave it, not as an empty window."""
    data, _ = game_day_dir
    instant = [i for i in _incidents(data)["incidents"] if i["start"] == i["resolved_at"]]
    assert instant, "the game day has one"
    done = _postmortem(data, tmp_path, "--incident", instant[0]["incident"])
    assert done.exit_code == 0, done.output
    assert f"{instant[0]['incident']}: resolved | 0 s after detection" in (tmp_path / "postmortem.md").read_text()


def test_postmortem_of_each_fault_window_names_it_as_the_ground_truth_records_it(game_day_dir, game_day, tmp_path):
    data, truth = game_day_dir
    for fault in game_day.ground_truth["faults"]:
        out = tmp_path / fault["id"]
        done = _postmortem(data, out, "--from", fault["start"], "--to", fault["end"], "--ground-truth", str(truth))
        assert done.exit_code == 0, done.output
        text = (out / "postmortem.md").read_text()
        start, end = (datetime.fromisoformat(fault[k]).strftime("%Y-%m-%d %H:%M") for k in ("start", "end"))
        row = (f"| {fault['id']} | {fault['kind']} | {start} | {end} | {fault.get('backend') or ''} | "
               f"{fault.get('tenant') or ''} | {fault.get('antagonist') or ''} | True |")
        assert row in text, (fault["id"], text[text.index("## Injected"):][:1500])
        assert f"injected fault {fault['id']} ({fault['kind']}) begins" in text
        assert "## Detection and resolution (M10)" in text and "| time_to_detect | time_to_resolve |" in text
        hurt = list(csv.DictReader((out / "affected_jobs.csv").open()))
        assert hurt, fault["id"]
        assert {row["tenant"] for row in hurt} & set(fault["victims"]), fault["id"]


def test_postmortem_sections_numbers_and_determinism(game_day_dir, tmp_path):
    data, truth = game_day_dir
    args = ("--incident", "INC-20261106-0900", "--ground-truth", str(truth))
    assert _postmortem(data, tmp_path / "a", *args).exit_code == 0
    assert _postmortem(data, tmp_path / "b", *args).exit_code == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["affected_jobs.csv", "plots/burn.png", "plots/fidelity.png", "plots/impact.png",
                                       "plots/queue.png", "postmortem.html", "postmortem.md"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    text = (tmp_path / "a" / "postmortem.md").read_text()
    for heading in ("## Summary", "## Impact", "### Error budget", "### Billing", "## Noisy-neighbour suspects",
                    "## Timeline", "## Plots", "## Review", "### What went well", "### What went wrong",
                    "### Where we got lucky", "### Action items"):
        assert heading in text, heading
    assert "Cause: startup, named by the noisy-neighbour detector" in text
    assert "| INC-20261106-0900 | ticket | 2026-11-06 09:00 | 2026-11-06 09:10 | 2026-11-06 15:20 | 10 min | 6 h 10 min |" in text
    assert "| 2026-11-06 15:20 | INC-20261106-0900: resolved | 6 h 10 min after detection |" in text
    assert "| uni-lab | manila |" in text and "| startup |" in text   # the suspects table: victim, backend, window, suspect
    hurt = pl.read_csv(tmp_path / "a" / "affected_jobs.csv")
    assert hurt["backend"].unique().to_list() == ["manila"]
    assert hurt.filter(pl.col("tenant") == "uni-lab").height == 1199


def _section_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading``, as rows of strings."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    header = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split(" | ")), strict=True)) for row in table[2:]]


def test_one_postmortems_counts_agree_across_summary_tables_and_csv(game_day_dir, tmp_path):
    """One definition of affected: the title, the summary, the tenant table, the questions and affected_jobs.csv
    count the same jobs and tenants; the aggressor is the cause, stated once, and never counted as hurt."""
    data, truth = game_day_dir
    assert _postmortem(data, tmp_path, "--incident", "INC-20261106-0900", "--ground-truth", str(truth)).exit_code == 0
    text = (tmp_path / "postmortem.md").read_text()
    hurt = pl.read_csv(tmp_path / "affected_jobs.csv")
    per_tenant = dict(hurt.group_by("tenant").len().iter_rows())
    title = text.splitlines()[0]
    assert title == f"# Noisy neighbour on manila, quito; {len(per_tenant)} tenants hurt"
    assert f"{hurt.height:,} job(s) of {len(per_tenant)} tenant(s) were affected" in text
    table = _section_table(text, "### Affected tenants")
    assert {row["tenant"]: int(row["affected"]) for row in table} == per_tenant
    assert all(row["share"] == f"{int(row['affected']) / int(row['jobs'].replace(',', '')):.1%}" for row in table), table
    for reason in ("failed", "telemetry_incomplete", "misbilled", "starved", "degraded"):
        in_csv = hurt.filter(pl.col("reasons").str.split(",").list.contains(reason)).height
        assert sum(int(row[reason]) for row in table) == in_csv, reason
    misbilled = hurt.filter(pl.col("reasons").str.contains("misbilled")).height
    assert f"{misbilled:,} job(s) were billed other than the meter owes" in text
    assert "misbilled_jobs" not in text and "startup" not in per_tenant
    assert text.count("Evidence:") == 1 and "The aggressor is startup" in text
    signals = _section_table(text, "## Alerts and detector findings")
    assert {row["runbook"] for row in signals} >= {
        "[fidelity-below-prediction](https://github.com/qtenancy/qtenancy/blob/main/docs/runbooks/fidelity-below-prediction.md)"}
    first = table[0]["first_job"]
    assert re.fullmatch(r"`[0-9a-f]{32}` \[trace\]\(http://localhost:3000/explore\?schemaVersion=1&orgId=1&panes=\S+\) "
                        r"\[logs\]\(http://localhost:3000/explore\?\S+\)", first), first


def test_postmortem_for_one_tenant_shows_only_that_tenant(game_day_dir, tmp_path):
    data, _ = game_day_dir
    done = _postmortem(data, tmp_path, "--from", "2026-11-07T00:00Z", "--to", "2026-11-07T12:00Z", "--tenant", "fintech")
    assert done.exit_code == 0, done.output
    hurt = pl.read_csv(tmp_path / "affected_jobs.csv")
    assert hurt["tenant"].unique().to_list() == ["fintech"]
    assert hurt.filter(pl.col("reasons").str.contains("misbilled")).height == 3705
    text = (tmp_path / "postmortem.md").read_text()
    assert "| fintech |" in text and "| qchem |" not in text and "| physics |" not in text


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--from", "2026-11-03T18:00Z", "--to", "2026-11-03T10:00Z"), 2, "must be after --from"),
    (("--from", "yesterday", "--to", "2026-11-03T10:00Z"), 2, "expected an ISO 8601 instant"),
    (("--incident", "INC-19990101-0000"), 2, "no incident INC-19990101-0000"),
    ((), 2, "give --from and --to, or --incident"),
])
def test_postmortem_refuses_bad_requests(game_day_dir, tmp_path, args, code, message):
    data, _ = game_day_dir
    done = _postmortem(data, tmp_path / "out", *args)
    assert done.exit_code == code
    assert message in " ".join(done.output.split())
    assert not (tmp_path / "out").exists()


def test_postmortem_refuses_a_bad_ground_truth_file_and_a_missing_store(game_day_dir, tmp_path):
    data, _ = game_day_dir
    bogus = tmp_path / "truth.json"
    bogus.write_text('{"scenario": "x"}')
    done = _postmortem(data, tmp_path / "out", "--incident", "INC-20261106-0900", "--ground-truth", str(bogus))
    assert done.exit_code == 2 and f"{bogus}: not an emulator ground-truth file" in " ".join(done.output.split())
    done = _postmortem(tmp_path / "empty", tmp_path / "out", "--from", "2026-11-03T10:00Z", "--to", "2026-11-03T18:00Z")
    assert done.exit_code == 1 and f"{tmp_path / 'empty' / 'store'}: no store here" in " ".join(done.output.split())


def _render(page, html_path: Path) -> tuple[list[str], list[list]]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
    page.goto(html_path.as_uri(), wait_until="load")
    images = page.evaluate("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    return problems, images


def test_postmortem_html_renders_in_headless_chromium_with_every_plot(game_day_dir, tmp_path):
    chromium = system_tool("chromium")
    from playwright.sync_api import sync_playwright

    data, truth = game_day_dir
    assert _postmortem(data, tmp_path, "--incident", "INC-20261103-1040", "--ground-truth", str(truth)).exit_code == 0
    broken = tmp_path / "broken.html"
    broken.write_text('<html><body><img alt="x" src="data:image/png;base64,AAAA"><script>nope()</script></body></html>')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            problems, images = _render(browser.new_page(), tmp_path / "postmortem.html")
            broken_problems, broken_images = _render(browser.new_page(), broken)
        finally:
            browser.close()
    assert problems == []
    assert [alt for alt, *_ in images] == ["Error-budget burn", "Fidelity and calibration", "Queue length",
                                           "Impact per tenant"]
    for alt, complete, width, height in images:
        assert complete and width == 1000 and height > 100, alt
    # the same checks see a broken plot and a script error
    assert broken_images == [["x", True, 0, 0]]
    assert any("nope is not defined" in p for p in broken_problems)


def test_demo_runs_end_to_end_and_ends_with_the_summary(tmp_path):
    done = _cli("demo", "--scenario", str(SCENARIOS / "game-day.yaml"), "--days", "1.75", "-o", str(tmp_path))
    assert done.exit_code == 0, done.output
    lines = done.stdout.rstrip().splitlines()
    assert "incidents found, each with its postmortem" in done.stdout
    assert "where everything is" in "\n".join(lines[-12:])
    assert "F1" in done.stdout
    postmortems = sorted(p.name for p in (tmp_path / "postmortems").iterdir())
    assert postmortems and all((tmp_path / "postmortems" / p / "postmortem.html").exists() for p in postmortems)
    for produced in ("slo-report.md", "slo-report.json", "incidents.md", "alerts/rules/slo-rules.yaml",
                     "alerts/alertmanager.yml", "dashboards/qtenancy-oncall.json", "run/ground_truth.json"):
        assert (tmp_path / produced).exists(), produced
    jobs = pl.scan_parquet(tmp_path / "collector" / "store" / "jobs").select(pl.len()).collect().item()
    assert jobs == pl.read_parquet(tmp_path / "run" / "jobs.parquet").height
    assert "TelemetryCompleteness" not in (tmp_path / "incidents.md").read_text(), \
        "the telemetry loss (F3) begins on day 3: over OTLP, nothing before it may be lost"
