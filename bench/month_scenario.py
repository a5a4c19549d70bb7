"""The benchmarks' month: 20 tenants on 8 backends, as many days as asked.

Its own module, free of side effects: a benchmark that only needs the scenario must not inherit the emulator
benchmark's one-thread setting (``POLARS_MAX_THREADS``), which its child processes would run under too.
"""

from __future__ import annotations

from emulator.scenario import Scenario

DEVICES = [
    "FakeManilaV2", "FakeQuitoV2", "FakeLimaV2", "FakeBelemV2",
    "FakeNairobiV2", "FakePerth", "FakeLagosV2", "FakeJakartaV2",
]
FAMILIES = ["ghz", "qft", "random_layered"]
PRIORITIES = ["batch", "standard", "interactive"]
POLICIES = ["balanced", "best_fidelity", "cheapest"]


def month_scenario(days: float) -> Scenario:
    backends = [
        {"name": f"qpu{i}", "device": d, "control_group": f"rack-{i // 2}", "price_per_second": 1.0 + 0.2 * (i % 3)}
        for i, d in enumerate(DEVICES)
    ]
    tenants = [
        {
            "id": f"tenant{i:02d}",
            "namespace": f"ns{i % 5}",
            "api_key": f"tenant{i:02d}-key-0123456789",
            "quota_share": 0.05,
            "priority": PRIORITIES[i % 3],
            "cost_policy": POLICIES[i % 3],
            "workloads": [
                {
                    "name": f"w{i}",
                    "arrival": {"rate_per_hour": 60 + 10 * (i % 5), "diurnal_amplitude": 0.5},
                    "circuits": {"family": FAMILIES[i % 3], "qubits": [3, 4, 5], "variants": 2, "layers": 4},
                    "shots": [1000, 2000, 4000],
                    "repetitions": 1 + i % 3,
                }
            ],
        }
        for i in range(20)
    ]
    return Scenario.model_validate({"name": "bench-month", "days": days, "backends": backends, "tenants": tenants})
