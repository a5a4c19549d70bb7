"""`qtenancy stack up` without Docker: the collector, Prometheus, Alertmanager and the real-time emulator on
loopback; Prometheus scrapes the emulator and an alert of the generated rules becomes active; `stack down`
stops exactly what `up` started (an unrelated process stays up). Live, both paths page alike: nothing on
the calm week, the same SLO and group on a slice of the game day, where the dashboard panels a backfill
cannot serve (firing alerts, Sloth's budget records) are shown to return data.

Bad input tried: `stack down` where no stack runs.
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import psutil
import pytest
import yaml

from contract.durations import format_duration

from .conftest import ROOT, SCENARIOS, TEST_SCENARIOS, system_tool
from .test_dashboards import NOT_BACKFILLED, _concrete, _promql


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())["data"]


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def test_stack_up_scrapes_the_emulator_raises_an_alert_and_comes_down(tmp_path):
    system_tool("prometheus")
    env = {**os.environ, "COLUMNS": "250"}
    bystander = subprocess.Popen(["sleep", "600"])
    up = subprocess.run(
        [sys.executable, "-m", "qtenancy", "stack", "up", "--dir", str(tmp_path), "--scenario",
         str(TEST_SCENARIOS / "telemetry.yaml"), "--speedup", "120"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert up.returncode == 0, up.stderr + up.stdout
    state = json.loads((tmp_path / "stack.json").read_text())
    pids = [p["pid"] for p in state["processes"]]
    try:
        assert [p["name"] for p in state["processes"]] == ["collector", "alertmanager", "prometheus", "emulator"]
        prometheus = f"http://127.0.0.1:{state['ports']['prometheus']}"
        _until(lambda: any(t["health"] == "up" for t in _get(f"{prometheus}/api/v1/targets")["activeTargets"]),
               60, "Prometheus scrapes the emulator")
        jobs = _until(lambda: float(r[0]["value"][1]) if (r := _get(
            f"{prometheus}/api/v1/query?query=sum(qtenancy_jobs_total)")["result"]) else None, 60, "jobs counted")
        assert jobs > 0
        alert = _until(lambda: [a for a in _get(f"{prometheus}/api/v1/alerts")["alerts"]
                                if a["labels"]["alertname"] == "QtenancyTelemetryGap"], 120,
                       "the telemetry gap alert (fault F3 on lima) becomes active")
        assert alert[0]["labels"]["backend"] == "lima" and alert[0]["state"] in ("pending", "firing")
    finally:
        down = subprocess.run([sys.executable, "-m", "qtenancy", "stack", "down", "--dir", str(tmp_path)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert down.returncode == 0, down.stderr
    assert "stopped: emulator, prometheus, alertmanager, collector" in down.stdout
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert bystander.poll() is None, "a process the stack did not start is left alone"
    bystander.kill()
    again = subprocess.run([sys.executable, "-m", "qtenancy", "stack", "down", "--dir", str(tmp_path)],
                           capture_output=True, text=True, cwd=ROOT, env=env)
    assert again.returncode == 1 and "no stack recorded in" in again.stderr


SPEEDUP = 120


def _stack_run(tmp_path, scenario, days: float, while_up=None) -> tuple[set, set]:
    """Run the stack over a scenario to its end; the page episodes (alert, group) Prometheus fired, live,
    and the ones the analytical path finds in the collector's data afterwards. ``while_up(prometheus, start,
    end)`` is called before the stack comes down."""
    from alerts.native_sli import NotGeneratable, rule_source
    from collector.correlate import correlate, read_calibrations, read_jobs
    from contract.alert_catalogue import default_burn_windows
    from slo.burn_rate import burn_rates, episodes
    from slo.shipped import shipped_specs
    from slo.sli import Tables, events
    from slo.spec_files import load_all

    env = {**os.environ, "COLUMNS": "250"}
    up = subprocess.run([sys.executable, "-m", "qtenancy", "stack", "up", "--dir", str(tmp_path), "--scenario",
                         str(scenario), "--days", str(days), "--speedup", str(SPEEDUP)],
                        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert up.returncode == 0, up.stderr + up.stdout
    state = json.loads((tmp_path / "stack.json").read_text())
    prometheus = f"http://127.0.0.1:{state['ports']['prometheus']}"
    started = time.time()
    emulator = next(p["pid"] for p in state["processes"] if p["name"] == "emulator")
    try:
        _until(lambda: not psutil.pid_exists(emulator) or psutil.Process(emulator).status() == psutil.STATUS_ZOMBIE,
               days * 86400 / SPEEDUP + 240, "the emulator replays the scenario to its end")
        time.sleep(5)
        fired = _get(f"{prometheus}/api/v1/query_range?query=ALERTS%7Balertstate%3D%22firing%22%2C"
                     f"sloth_severity%3D%22page%22%7D&start={started - 60}&end={time.time()}&step=1")["result"]
        if while_up is not None:
            while_up(prometheus, started - 60, time.time())
    finally:
        subprocess.run([sys.executable, "-m", "qtenancy", "stack", "down", "--dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    live = {(s["metric"]["alertname"], s["metric"].get("tenant", s["metric"].get("backend", "platform"))) for s in fired}
    store = tmp_path / "collector-data" / "store"
    correlate(store)
    tables = Tables(read_jobs(store), read_calibrations(store))
    end = tables.jobs.select(pl.col("finished_at").max()).collect().item()
    start = tables.jobs.select(pl.col("submitted_at").min()).collect().item()
    analytical = set()
    for spec in load_all([shipped_specs()]):
        try:
            rule_source(spec)
        except NotGeneratable:
            continue
        rates = burn_rates(events(spec, tables, end), spec.objective, start, end, default_burn_windows(),
                           step_seconds=60, min_events=spec.min_events)
        analytical |= {(spec.alert_name, group) for group in episodes(rates, "page")["group"]}
    return live, analytical


def _game_day_slice(path):
    """Two hours of the game day's platform with its hybrid pre-processing fault brought forward."""
    scenario = yaml.safe_load((SCENARIOS / "game-day.yaml").read_text())
    scenario["faults"] = [{"kind": "preprocess_timeout", "tenant": "qchem", "start": "30m", "end": "1h30m",
                           "slowdown": 100}]
    path.write_text(yaml.safe_dump(scenario))
    return path


@pytest.fixture(scope="module")
def live_runs(tmp_path_factory) -> dict:
    """The calm week's first 90 minutes and the game-day slice, each on a stack of its own, side by side (each
    mostly waits on its real-time emulator); on the slice, what the dashboard queries a backfill cannot serve
    (ALERTS, Sloth's budget records) return while the stack is up; a panel's hour-long window is read as the
    stack's rules name it, scaled to the emulator's speed."""
    system_tool("prometheus")
    root = tmp_path_factory.mktemp("live")
    panels = {}

    def live_only_panels(prometheus: str, start: float, end: float) -> None:
        for board in (ROOT / "deploy" / "generated" / "dashboards").glob("*.json"):
            for expr in _promql(json.loads(board.read_text())):
                if NOT_BACKFILLED.search(expr):
                    live = _concrete(expr).replace("ratio_rate1h", f"ratio_rate{format_duration(3600 / SPEEDUP)}")
                    query = urllib.parse.urlencode({"query": live, "start": start, "end": end, "step": 5})
                    panels[(board.name, expr)] = _get(f"{prometheus}/api/v1/query_range?{query}")["result"]

    with ThreadPoolExecutor(2) as pool:
        calm = pool.submit(_stack_run, root / "calm", SCENARIOS / "calm-week.yaml", 0.0625)
        game_day = pool.submit(_stack_run, root / "slice", _game_day_slice(root / "game-day-slice.yaml"), 0.09,
                               live_only_panels)
        return {"calm": calm.result(), "slice": game_day.result(), "panels": panels}


def test_live_stack_on_the_calm_week_pages_neither_path(live_runs):
    """The first hour and a half of the calm week, live: neither Prometheus nor the analytical path pages
    (before the rules' windows were scaled to the emulator's speed, Prometheus paged within minutes)."""
    live, analytical = live_runs["calm"]
    assert live == analytical == set()


def test_live_stack_on_a_game_day_slice_pages_both_paths_for_the_same_slo_and_group(live_runs):
    """qchem's jobs (a fifth of the platform's) time out for an hour: both paths page job success for qchem
    and for the platform, and nothing else."""
    live, analytical = live_runs["slice"]
    assert live == analytical == {("JobSuccessTenantErrorBudgetBurn", "qchem"),
                                  ("JobSuccessPlatformErrorBudgetBurn", "platform")}


def test_the_dashboard_panels_a_backfill_cannot_serve_return_data_live(live_runs):
    assert len(live_runs["panels"]) == 6
    for (board, expr), result in live_runs["panels"].items():
        assert result, (board, expr)
