"""Every fake device qiskit-ibm-runtime ships either runs in the emulator, whatever its basis gates (today's
sx/x/ecr, the u1/u2/u3/cx of IBM's older devices, cz), or is refused when the scenario is validated, with
the file, the field and the reason.

Bad input tried: a one-qubit device (FakeArmonkV2), a device whose one-way cx couplers Qiskit cannot route
(FakeCairoV2: it passed validation and crashed on five-qubit circuits), an unknown device name, the first and
the last through a scenario file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulator.circuits import build
from emulator.devices import UnsupportedDevice, check_device, fake_devices, load_device
from emulator.noisy_execution import (
    DistributionCache,
    compile_circuit,
    hellinger_fidelity,
    predicted_fidelity,
)
from emulator.scenario import CircuitFamily, ScenarioError, load_scenario, scenario_path

OLD_BASIS = ("FakeBurlingtonV2", "FakeEssexV2", "FakeLondonV2")


def _scenario_with(tmp_path: Path, device: str) -> Path:
    scenario = yaml.safe_load(scenario_path(Path("calm-week")).read_text())
    scenario["backends"] = [{**scenario["backends"][0], "device": device}]
    scenario["days"] = 0.02
    path = tmp_path / f"{device}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_every_fake_device_runs_or_is_refused_with_the_reason():
    """Each device that validation accepts compiles every circuit family a scenario can ask for, at widths up to
    five qubits (so routing and coupler directions are exercised, not only one Bell pair), and runs a Bell pair."""
    devices = fake_devices()
    assert len(devices) >= 60 and {"FakeManilaV2", "FakePerth", *OLD_BASIS} <= set(devices)
    ghz = build(CircuitFamily.GHZ, 2)
    wider = [build(family, width, 4, 0) for family in CircuitFamily for width in (3, 5)]
    fidelities, refused = {}, {}
    cache = DistributionCache(step=0.1)
    for name in devices:
        try:
            check_device(name)
        except UnsupportedDevice as exc:
            refused[name] = str(exc)
            continue
        snapshot = load_device(name)
        for circuit in wider:
            if circuit.num_qubits <= snapshot.num_qubits:
                assert 0.0 < predicted_fidelity(compile_circuit(circuit, snapshot), snapshot, 1.0) < 1.0, name
        compiled = compile_circuit(ghz, snapshot)
        [noisy] = cache.distributions([(compiled, snapshot, 0)])
        assert noisy.min() >= 0 and noisy.sum() == pytest.approx(1.0), name
        assert 0.0 < predicted_fidelity(compiled, snapshot, 1.0) < 1.0, name
        fidelities[name] = hellinger_fidelity(ghz.ideal_probabilities, noisy)
    assert refused == {
        "FakeArmonkV2": "device 'FakeArmonkV2' has 1 qubit(s) and no two-qubit gate among ecr, cz, cx: "
                        "multi-qubit circuits cannot run on it",
        "FakeCairoV2": "device 'FakeCairoV2' drives 12 coupler(s) with cx in one direction only beside ecr couplers, "
                       "and Qiskit's transpiler has no rule to reverse cx in such a target: circuits cannot be routed "
                       "on it",
    }
    assert len(fidelities) == len(devices) - 2
    assert all(0.45 < f < 1.0 for f in fidelities.values()), fidelities
    good = sorted(fidelities.values())[len(fidelities) // 2]
    assert good > 0.85, f"the median device makes a Bell pair at fidelity {good:.3f}"


def test_a_refused_device_is_a_scenario_error_naming_file_field_and_reason(tmp_path):
    path = _scenario_with(tmp_path, "FakeArmonkV2")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert str(raised.value).splitlines() == [
        f"{path}: invalid scenario",
        "  backends.0.device: device 'FakeArmonkV2' has 1 qubit(s) and no two-qubit gate among ecr, cz, cx: "
        "multi-qubit circuits cannot run on it",
    ]
    unknown = _scenario_with(tmp_path, "FakeAtlantis")
    run = subprocess.run([sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(unknown), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2
    assert f"{unknown}: invalid scenario" in run.stderr
    assert "backends.0.device: unknown device 'FakeAtlantis'; qiskit-ibm-runtime ships: FakeAachen" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", OLD_BASIS[:1])
def test_an_old_basis_device_runs_a_whole_scenario(tmp_path, device):
    """The u1/u2/u3 devices crashed the emulator with KeyError 'sx' after passing validation."""
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(_scenario_with(tmp_path, device)),
                          "--out", str(out), "--no-openmetrics"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    import polars as pl

    jobs = pl.read_parquet(out / "jobs.parquet")
    executed = jobs.filter(pl.col("measured_fidelity").is_not_null())
    assert executed.height > 10 and executed["measured_fidelity"].mean() > 0.5
