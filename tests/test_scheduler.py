"""Routing and queue order of the scheduler, on hand-made backends with known expected fidelities."""

import pytest

from emulator.scenario import Scenario
from emulator.scheduler import BackendView, QueuedJob, Scheduler

FIDELITY = {0: 0.90, 1: 0.80, 2: 0.70}


def _scenario(**tenant) -> Scenario:
    base = {
        "id": "t0",
        "namespace": "n",
        "api_key": "t0-key-0123456789abcdef",
        "quota_share": 0.5,
        "workloads": [{"name": "w", "arrival": {"rate_per_hour": 1}, "circuits": {"family": "ghz", "qubits": [2]}}],
    }
    other = {**base, "id": "t1", "api_key": "t1-key-0123456789abcdef", "quota_share": 0.25}
    return Scenario.model_validate(
        {
            "name": "s",
            "backends": [
                {"name": f"b{i}", "device": "FakeManilaV2", "control_group": "g", "price_per_second": p}
                for i, p in enumerate((3.0, 2.0, 1.0))
            ],
            "tenants": [{**base, **tenant}, other],
        }
    )


def _scheduler(**tenant) -> Scheduler:
    views = [BackendView(f"b{i}", 5, p) for i, p in enumerate((3.0, 2.0, 1.0))]
    return Scheduler(_scenario(**tenant), views, lambda circuit, backend: FIDELITY[backend])


def _job(tenant=0, row=0, queued_at=0.0, width=2, allowed=None) -> QueuedJob:
    return QueuedJob(row=row, tenant=tenant, circuit=0, width=width, planned=3.0, queued_at=queued_at, allowed=allowed)


def test_best_fidelity_wins_when_cost_is_ignored():
    route = _scheduler(cost_policy="best_fidelity").route(_job(), 0.0)
    assert (route.backend, route.predicted_fidelity, route.floor_met) == (0, 0.90, True)


def test_cheapest_policy_takes_the_cheapest_backend_over_the_floor():
    assert _scheduler(cost_policy="cheapest", fidelity_floor=0.5).route(_job(), 0.0).backend == 2
    assert _scheduler(cost_policy="cheapest", fidelity_floor=0.75).route(_job(), 0.0).backend == 1


def test_floor_nobody_meets_still_routes_but_says_so():
    route = _scheduler(fidelity_floor=0.95).route(_job(), 0.0)
    assert route.backend == 0 and not route.floor_met


def test_backlog_pushes_work_to_the_next_best_backend():
    scheduler = _scheduler(cost_policy="best_fidelity")
    for row in range(200):  # 600 s of planned work: worth 0.17 of fidelity at the default weight
        scheduler.enqueue(_job(row=row), 0)
    assert scheduler.route(_job(row=999), 0.0).backend == 1


def test_out_of_rotation_narrow_and_pinned_backends():
    scheduler = _scheduler(cost_policy="best_fidelity")
    scheduler.backends[0].in_rotation = False
    assert scheduler.route(_job(), 0.0).backend == 1
    assert scheduler.route(_job(allowed=(2,)), 0.0).backend == 2
    assert scheduler.route(_job(width=6), 0.0) is None


def test_reserved_backend_is_closed_to_others_and_preferred_by_its_owner():
    scenario = _scenario(cost_policy="cheapest", reservations=[{"backend": "b0", "start": "1h", "end": "2h"}])
    views = [BackendView(f"b{i}", 5, p) for i, p in enumerate((3.0, 2.0, 1.0))]
    scheduler = Scheduler(scenario, views, lambda c, b: FIDELITY[b])
    assert scheduler.route(_job(tenant=0), 5400.0).backend == 0
    assert scheduler.route(_job(tenant=1), 0.0).backend == 0
    assert scheduler.route(_job(tenant=1), 5400.0).backend != 0


def test_queue_order_priority_then_fair_share_then_aging():
    scheduler = _scheduler(priority="interactive")
    scheduler.enqueue(_job(tenant=1, row=1, queued_at=0.0), 0)
    scheduler.enqueue(_job(tenant=0, row=2, queued_at=10.0), 0)
    assert scheduler.next_job(0, 20.0).row == 2, "the interactive tenant goes first"
    scheduler.charge(0, 3.0, 20.0)
    scheduler.enqueue(_job(tenant=0, row=3, queued_at=20.0), 0)
    assert scheduler.next_job(0, 1000.0).row == 3, "aged one tier, the standard job is still below interactive"
    scheduler.enqueue(_job(tenant=0, row=4, queued_at=1000.0), 0)
    assert scheduler.next_job(0, 4000.0).row == 1, "aged to the top tier, fair share prefers the unserved tenant"


@pytest.mark.parametrize(("usage0", "expected"), [(100.0, 1), (10.0, 0)])
def test_fair_share_picks_the_tenant_furthest_below_quota(usage0, expected):
    scheduler = _scheduler()
    scheduler.charge(0, usage0, 0.0)
    scheduler.charge(1, 30.0, 0.0)
    scheduler.enqueue(_job(tenant=0, row=0), 0)
    scheduler.enqueue(_job(tenant=1, row=1), 0)
    assert scheduler.next_job(0, 1.0).tenant == expected
