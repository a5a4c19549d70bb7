"""The strict scorer, on hand-made signals: a fault is found only by a signal of its own kind, in its place, raised
after it began; every incident that finds none is a false positive. Then `qtenancy incidents score` on shipped
scenarios the detectors were not built on, emulated afresh.

Bad input tried: a signal of another kind overlapping a fault, the right kind before the fault began, on another
backend, naming another suspect, and in another control group; a scenario file that does not exist (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from contract.ground_truth import fault_ids
from contract.tables import SIGNAL_SCHEMA
from slo.fault_scoring import false_positives, score, summary
from slo.incidents import group

from .conftest import ROOT

T0 = datetime(2026, 3, 2, tzinfo=UTC)
GROUPS = {"oslo": "bay-1", "lagos": "bay-1", "hanoi": "bay-2"}


def _fault(kind: str, fault_id: str, **place) -> dict:
    return {"id": fault_id, "kind": kind, "start": (T0 + timedelta(hours=10)).isoformat(),
            "end": (T0 + timedelta(hours=14)).isoformat(), **place}


def _signal(signal: str, at_hours: float, *, sli: str | None = None, backends=(), tenants=(), suspect=None,
            alert: str = "SomeAlert") -> dict:
    at = T0 + timedelta(hours=at_hours)
    return {"signal": signal, "sli": sli, "alert": alert, "severity": "ticket", "backends": list(backends),
            "tenants": list(tenants), "suspect": suspect, "start": at, "detected_at": at + timedelta(minutes=20),
            "end": at + timedelta(hours=1), "jobs": 1, "first_job": None, "evidence": ""}


def _scored(signals: list[dict], faults: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    grouped = group(pl.DataFrame(signals, schema=SIGNAL_SCHEMA))
    return score(grouped, faults, GROUPS), false_positives(grouped, faults, GROUPS)


def test_a_fault_is_found_only_by_its_own_kind_in_its_place_after_it_began():
    drift = _fault("calibration_drift", "F1", backend="oslo", control_group="bay-1")
    flood = _fault("noisy_neighbour", "F4", backend="lagos", control_group="bay-1", antagonist="hpc")
    billing = _fault("billing_discrepancy", "F5", tenant="tinyco")
    signals = [
        _signal("slo_burn", 10.5, sli="M1", backends=["oslo"]),                 # wrong kind on the drifting backend
        _signal("drift", 9.0, backends=["oslo"]),                               # before the drift began
        _signal("drift", 11.0, backends=["hanoi"]),                             # another backend
        _signal("noisy_neighbour", 11.0, backends=["oslo"], suspect="course"),  # another suspect
        _signal("noisy_neighbour", 12.0, backends=["hanoi"], suspect="hpc"),    # another control group
        _signal("billing_delta", 10.2, tenants=["bigco"]),                      # another tenant
    ]
    scored, spurious = _scored(signals, [drift, flood, billing])
    assert not scored["found"].any()
    assert spurious.height == 3, "oslo's three signals are one incident, hanoi's two another, bigco's bill the third"
    assert spurious["kind"].to_list() == ["calibration_drift", "billing_discrepancy", "calibration_drift"], \
        "each charged to the kind its first signal would find"

    right = [_signal("drift", 11.0, backends=["oslo"]),
             _signal("noisy_neighbour", 10.0, backends=["oslo", "lagos"], suspect="hpc"),
             _signal("slo_burn", 10.25, sli="M6", tenants=["tinyco"])]
    scored, spurious = _scored(right, [drift, flood, billing])
    assert scored["found"].all() and spurious.is_empty()
    assert scored["minutes_to_detect"].to_list() == [80.0, 20.0, 35.0], "each the time of the signal that found it"
    by_kind = summary(scored, spurious)
    assert by_kind["found"].to_list() == [1, 1, 1] and by_kind["false_positives"].to_list() == [0, 0, 0]
    assert by_kind["kind"].to_list() == ["calibration_drift", "noisy_neighbour", "billing_discrepancy"], \
        "kinds in the catalogue's order (F1, F4, F5), the same each run"


def test_faults_of_one_kind_get_ids_of_their_own():
    assert fault_ids(["billing_discrepancy", "calibration_drift", "billing_discrepancy", "billing_discrepancy"]) == [
        "F5", "F1", "F5.2", "F5.3"]


@pytest.mark.slow
def test_rehearsal_of_unseen_scenarios_finds_each_fault_and_nothing_on_a_calm_platform(tmp_path):
    """Two seeds each of a calm lab on devices the game day never uses, an antagonist that is always busy in its
    control group, modest-volume billing faults, and faults that overlap, ending in an outage of a backend no job
    is running on (the scenarios ship; the full set is in the closing note)."""
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "incidents", "score", "calm-small-lab", "neighbour-always-busy",
         "billing-modest", "overlapping-faults", "--seed", "4", "--seed", "5", "--workers", "2", "--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    runs = {(r["scenario"], r["seed"]): r for r in body["runs"]}
    assert all(runs[("calm-small-lab", s)]["incidents"] == 0 for s in (4, 5))
    found = [f for r in body["runs"] for f in r["faults"]]
    assert len(found) == 16, found
    outages = [f for f in found if f["kind"] == "backend_outage"]
    assert len(outages) == 2 and all(f["found"] and f["minutes_to_detect"] <= 2 for f in outages), \
        "found by the backend's own status record once down for the alert's 2 min hold"
    assert all(f["found"] for f in found), found
    assert body["precision"] == 1.0 and body["recall"] == 1.0
    neighbour = [f for f in found if f["kind"] == "noisy_neighbour"]
    assert all(f["minutes_to_detect"] <= 90 for f in neighbour)
    billing = [f for f in found if f["kind"] == "billing_discrepancy"]
    assert len(billing) == 6 and {f["fault"] for f in billing} == {"F5", "F5.2"}
    assert all(f["minutes_to_detect"] <= 60 for f in billing)
    refused = subprocess.run([sys.executable, "-m", "qtenancy", "incidents", "score", "no-such-scenario"],
                             capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "no-such-scenario" in refused.stderr
