"""Bad scenario files are refused with the file, the field path and the reason.

Bad input tried: malformed YAML, a list at the top level, an unknown field, a duration that is not one,
a reservation and a fault naming undefined backends/tenants, quotas summing over 1, a window that ends
before it starts, an unknown device, a missing file.
"""

from pathlib import Path

import pytest
import yaml

from emulator.devices import load_device
from emulator.scenario import ScenarioError, load_scenario, parse_offset

from .conftest import SCENARIOS


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def _calm() -> dict:
    return yaml.safe_load((SCENARIOS / "calm-week.yaml").read_text())


def test_shipped_scenarios_load():
    calm = load_scenario(SCENARIOS / "calm-week.yaml")
    game = load_scenario(SCENARIOS / "game-day.yaml")
    assert calm.faults == [] and calm.days == 7
    assert {f.kind for f in game.faults} == {
        "calibration_drift",
        "scheduler_starvation",
        "telemetry_loss",
        "noisy_neighbour",
        "billing_discrepancy",
        "preprocess_timeout",
        "backend_outage",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2d6h", 2 * 86400 + 6 * 3600), ("90m", 5400), ("45s", 45), ("1.5h", 5400), (30, 30.0)],
)
def test_durations(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["", "6 hours", "h", "-5", "2x"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_offset(text if text != "-5" else -5)


def test_malformed_yaml(tmp_path):
    path = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: not valid YAML"):
        load_scenario(path)


def test_top_level_list(tmp_path):
    with pytest.raises(ScenarioError, match="expected a mapping at the top level, got list"):
        load_scenario(_write(tmp_path, [1, 2]))


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.yaml")


def test_unknown_field_names_its_path(tmp_path):
    doc = _calm()
    workload = doc["tenants"][1]["workloads"][0]
    workload["arival"] = workload.pop("arrival")
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, doc))
    message = str(err.value)
    assert "bad.yaml: invalid scenario" in message
    assert "tenants.1.workloads.0.arival: Extra inputs are not permitted" in message
    assert "tenants.1.workloads.0.arrival: Field required" in message


def test_bad_duration_in_file(tmp_path):
    doc = _calm()
    doc["tenants"][0]["queue_wait_target"] = "ten minutes"
    with pytest.raises(ScenarioError, match=r"tenants\.0\.queue_wait_target: Value error, 'ten minutes' is not a duration"):
        load_scenario(_write(tmp_path, doc))


def test_undefined_references(tmp_path):
    doc = _calm()
    doc["tenants"][0]["reservations"] = [{"backend": "atlantis", "start": "1h", "end": "2h"}]
    with pytest.raises(ScenarioError, match="reservation backend 'atlantis' is not defined"):
        load_scenario(_write(tmp_path, doc))
    doc = _calm()
    doc["faults"] = [{"kind": "noisy_neighbour", "tenant": "mallory", "backend": "manila", "start": "1h", "end": "2h"}]
    with pytest.raises(ScenarioError, match="noisy_neighbour tenant 'mallory' is not defined"):
        load_scenario(_write(tmp_path, doc))


def test_unknown_fault_kind(tmp_path):
    doc = _calm()
    doc["faults"] = [{"kind": "cosmic_ray", "start": "1h", "end": "2h"}]
    with pytest.raises(ScenarioError, match=r"faults\.0: Input tag 'cosmic_ray' found using 'kind' does not match"):
        load_scenario(_write(tmp_path, doc))


def test_quota_over_one(tmp_path):
    doc = _calm()
    doc["tenants"][0]["quota_share"] = 0.9
    with pytest.raises(ScenarioError, match="quota_share must sum to at most 1"):
        load_scenario(_write(tmp_path, doc))


def test_window_backwards(tmp_path):
    doc = _calm()
    doc["faults"] = [{"kind": "backend_outage", "backend": "manila", "start": "5h", "end": "2h"}]
    with pytest.raises(ScenarioError, match=r"faults\.0\.backend_outage: Value error, end \(7200s\) must be after start \(18000s\)"):
        load_scenario(_write(tmp_path, doc))


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device 'FakeAtlantis'; qiskit-ibm-runtime ships: .*FakeManilaV2"):
        load_device("FakeAtlantis")
