"""`qtenancy stack up` without Docker: the collector, Prometheus, Alertmanager and the real-time emulator on
loopback; Prometheus scrapes the emulator and an alert of the generated rules becomes active; `stack down`
stops exactly what `up` started (an unrelated process stays up).

Bad input tried: `stack down` where no stack runs.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import psutil

from .conftest import ROOT, TEST_SCENARIOS, system_tool


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
