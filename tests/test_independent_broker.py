"""A broker qtenancy did not make (tests/qiskit_broker.py: Qiskit on fake devices with qiskit-aer, the plain
OpenTelemetry SDK, written from docs/semconv.md) is observed as the emulator is: its incidents are exactly
its two faults, each found where and when it happened, and its exact billing is 100% right; billed again by
a declared 5 s sampling meter, it is still right and raises no billing incident. A broker that logs its
backend's status has the outage dated to the minute it reported; one that does not, by its failed jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from .conftest import ROOT
from .independent_broker import serving_collector
from .qiskit_broker import DEGRADED, OUTAGE, START, TENANTS, Devices, export, plan


@pytest.fixture(scope="module")
def jobs():
    return plan(Devices())


def _cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "qtenancy", *args, "--format", "json"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _observed(tmp_path, jobs, sampled_meter: bool) -> tuple[list[dict], list[dict]]:
    data = tmp_path / "data"
    with serving_collector(data) as endpoint:
        export(endpoint, jobs, sampled_meter, report_status=not sampled_meter)
    subprocess.run([sys.executable, "-m", "qtenancy", "collector", "correlate", "--data-dir", str(data)], check=True,
                   capture_output=True, cwd=ROOT)
    return _cli("incidents", "list", "--data-dir", str(data))["incidents"], _cli(
        "slo", "report", "--data-dir", str(data))["slos"]


@pytest.mark.parametrize("sampled_meter", [False, True], ids=["exact, status logged", "sampled-5s, no status"])
def test_an_independent_qiskit_broker_gets_exactly_its_two_faults_and_right_bills(jobs, tmp_path, sampled_meter):
    incidents, slos = _observed(tmp_path, jobs, sampled_meter)
    assert len(incidents) == 2, [(i["incident"], i["backends"], i["alerts"]) for i in incidents]
    degraded, outage = incidents
    assert degraded["backends"] == [DEGRADED[0]]
    assert "JobSuccessPlatformErrorBudgetBurn" in degraded["alerts"]
    assert timedelta(0) <= _at(degraded["start"]) - (START + timedelta(seconds=DEGRADED[1])) <= timedelta(minutes=5)
    assert outage["backends"] == [OUTAGE[0]] and "QtenancyBackendDown" in outage["alerts"]
    began = START + timedelta(seconds=OUTAGE[1])
    if sampled_meter:
        assert abs(_at(outage["start"]) - began) <= timedelta(minutes=1) and outage["minutes_to_detect"] <= 5
    else:
        assert _at(outage["start"]) == began and outage["minutes_to_detect"] <= 2
        assert _at(outage["resolved_at"]) >= START + timedelta(seconds=OUTAGE[2]), "down until it said it was back"
    assert not any("QtenancyBillingDelta" in i["alerts"] for i in incidents)
    billing = {r["group"]: r["sli"] for r in slos if r["slo"] == "billing-accuracy"}
    assert billing == {tenant: 1.0 for tenant in TENANTS}


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
