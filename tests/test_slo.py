"""SLIs, error budgets and burn rates on small hand-made tables, against values computed by hand.

Bad input tried: a native spec with an objective over 100, an unknown SLI, a window that is not a duration,
a filter on an unknown column; Sloth's own bad fixtures; an unknown spec version.
"""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from slo.burn_rate import burn_rates, episodes, exhaustion
from slo.catalogue import SliId, SliParameters
from slo.sli import Tables, events, sli_table
from slo.spec_files import load_all, load_specs
from slo.specs import Grouping, SloSpec, SpecError, Window

from .conftest import ROOT

T0 = datetime(2026, 5, 1, tzinfo=UTC)
SLOTH = ROOT.parent / "shared" / "compat" / "sloth" / "testdata"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _jobs(rows: list[dict]) -> pl.LazyFrame:
    base = {
        "tenant": "a", "namespace": "n", "backend": "b1", "priority": "standard", "outcome": "succeeded",
        "usable": True, "submitted_at": None, "finished_at": None, "execute_start": None, "execute_end": None,
        "queue_wait_seconds": None, "billed_seconds": None, "has_root": True, "complete": True,
        "expected_runtime_seconds": None, "submit_to_result_seconds": None,
    }
    frame = pl.DataFrame([{**base, **r} for r in rows], infer_schema_length=None)
    return frame.lazy().with_columns(pl.col(c).cast(pl.Datetime("us", "UTC")) for c in
                                     ("submitted_at", "finished_at", "execute_start", "execute_end"))


def _spec(sli: SliId, objective: float, group_by=Grouping.PLATFORM, **parameters) -> SloSpec:
    return SloSpec(name=f"test-{sli}", service="t", objective=objective, window=Window(30 * 86400.0), source="test",
                   sli=sli, group_by=group_by, parameters=SliParameters(**parameters))


EMPTY = pl.LazyFrame(schema={"ended_at": pl.Datetime("us", "UTC"), "verdict": pl.String, "backend": pl.String})


def test_m1_job_success_per_tenant_and_its_budget():
    rows = [{"tenant": "a", "finished_at": _at(i), "usable": i != 3} for i in range(10)]
    rows += [{"tenant": "b", "finished_at": _at(i), "usable": i < 6} for i in range(8)]
    rows += [{"tenant": "b", "finished_at": _at(1), "outcome": "rejected", "usable": False}]
    rows += [{"tenant": "b", "finished_at": None, "usable": False}]
    table = sli_table(_spec(SliId.M1, 0.9, Grouping.TENANT), Tables(_jobs(rows), EMPTY), _at(60))
    a, b = table.row(0, named=True), table.row(1, named=True)
    assert (a["total"], a["good"], a["bad"]) == (10, 9, 1)
    assert a["sli"] == pytest.approx(0.9) and a["budget_consumed"] == pytest.approx(1.0)
    assert (b["total"], b["good"], b["bad"]) == (8, 6, 2), "the rejected and the unfinished job are not events"
    assert b["sli"] == pytest.approx(0.75)
    assert b["budget_consumed"] == pytest.approx(2 / 0.8) and b["budget_remaining"] == pytest.approx(1 - 2.5)
    assert not b["met"]


def test_m2_queue_wait_threshold_and_filter():
    rows = [{"execute_start": _at(i), "queue_wait_seconds": w, "priority": p}
            for i, (w, p) in enumerate([(5, "interactive"), (31, "interactive"), (30, "interactive"), (100, "batch")])]
    spec = _spec(SliId.M2, 0.95, queue_wait_seconds=30.0)
    spec = SloSpec(**{**spec.__dict__, "filter": {"priority": ["interactive"]}})
    row = sli_table(spec, Tables(_jobs(rows), EMPTY), _at(60)).row(0, named=True)
    assert (row["total"], row["good"]) == (3, 2)


def test_m4_calibration_pass_rate_per_backend():
    calibrations = pl.LazyFrame({
        "ended_at": [_at(i) for i in range(5)], "backend": ["b1", "b1", "b1", "b2", "b2"],
        "verdict": ["pass", "fail", "pass", "pass", "pass"],
    }).with_columns(pl.col("ended_at").cast(pl.Datetime("us", "UTC")))
    table = sli_table(_spec(SliId.M4, 0.95, Grouping.BACKEND), Tables(_jobs([{}]), calibrations), _at(60))
    assert table.select("group", "total", "good").rows() == [("b1", 3, 2), ("b2", 2, 2)]
    assert table["budget_consumed"].to_list() == pytest.approx([1 / (3 * 0.05), 0.0])


def test_m5_completeness_counts_unfinished_jobs_only_after_the_grace():
    rows = [
        {"submitted_at": _at(0), "complete": True},
        {"submitted_at": _at(1), "complete": False},
        {"submitted_at": _at(2), "has_root": False, "complete": False},
        {"submitted_at": _at(59), "has_root": False, "complete": False},
    ]
    row = sli_table(_spec(SliId.M5, 1.0, completeness_grace_seconds=1800), Tables(_jobs(rows), EMPTY), _at(60)).row(0, named=True)
    assert (row["total"], row["good"]) == (3, 1), "the job submitted a minute ago may still be running"
    assert (row["budget_consumed"], row["budget_remaining"]) == (1.0, 0.0), "a 100% objective's budget is zero: spent"


def test_m6_billing_matches_what_the_meter_owes_for_the_traced_execution():
    start = T0 + timedelta(seconds=3)
    rows = [
        {"finished_at": _at(1), "execute_start": start, "execute_end": start + timedelta(seconds=4), "billed_seconds": 5.0},
        {"finished_at": _at(2), "execute_start": start, "execute_end": start + timedelta(seconds=1), "billed_seconds": 0.0},
        {"finished_at": _at(3), "execute_start": start, "execute_end": start + timedelta(seconds=12), "billed_seconds": 7.5},
    ]
    row = sli_table(_spec(SliId.M6, 1.0, meter_granularity_seconds=5.0), Tables(_jobs(rows), EMPTY), _at(60)).row(0, named=True)
    assert (row["total"], row["good"]) == (3, 2), "3s-7s holds one sample (5s), 3s-4s none, 3s-15s two (10s, not the 7.5s billed)"


def test_m8_latency_from_execution_start_within_factor_of_expected_runtime():
    """Queue waits do not count (a job that waited an hour and then ran in 5 s is good); a job that never
    reached a backend is not an event of M8 at all."""
    rows = [{"finished_at": _at(i) + timedelta(seconds=s), "execute_start": _at(i), "expected_runtime_seconds": 10.0,
             "submitted_at": _at(i) - timedelta(hours=1), "submit_to_result_seconds": 3600 + s}
            for i, s in enumerate([5.0, 20.0, 20.1, 100.0])]
    rows.append({"finished_at": _at(9), "expected_runtime_seconds": 10.0, "outcome": "timed_out"})
    row = sli_table(_spec(SliId.M8, 0.5, latency_factor=2.0), Tables(_jobs(rows), EMPTY), _at(60)).row(0, named=True)
    assert (row["total"], row["good"], row["sli"]) == (4, 2, 0.5)
    assert row["met"] and row["budget_consumed"] == pytest.approx(1.0)


def test_window_excludes_older_events():
    rows = [{"finished_at": T0 - timedelta(days=40), "usable": False}, {"finished_at": _at(1)}]
    table = sli_table(_spec(SliId.M1, 0.9), Tables(_jobs(rows), EMPTY), _at(60))
    assert table["total"].to_list() == [1]
    week = sli_table(_spec(SliId.M1, 0.9), Tables(_jobs(rows), EMPTY), _at(60), Window(86400 * 60))
    assert week["total"].to_list() == [2]


def _minute_events(bad_minutes: range, minutes: int = 120) -> pl.LazyFrame:
    return pl.LazyFrame({
        "time": [_at(m) for m in range(1, minutes + 1)],
        "group": ["platform"] * minutes,
        "good": [m not in bad_minutes for m in range(1, minutes + 1)],
    }).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))


def test_burn_rates_over_each_window_by_hand():
    rates = burn_rates(_minute_events(range(90, 100)), 0.99, _at(0), _at(120))
    at = {r["at"]: r for r in rates.iter_rows(named=True)}
    end = at[_at(120)]
    assert end["burn_1h"] == pytest.approx((10 / 60) / 0.01)
    assert end["burn_30m"] == pytest.approx((9 / 30) / 0.01)
    assert end["burn_5m"] == 0.0 and end["burn_6h"] == pytest.approx((10 / 120) / 0.01)
    assert not end["page:1h/5m"] and end["page:6h/30m"], "6h: 8.3 > 6 and 30m: 30 > 6"
    peak = at[_at(100)]
    assert peak["burn_5m"] == pytest.approx((4 / 5) / 0.01) and peak["burn_1h"] == pytest.approx((10 / 60) / 0.01)
    assert peak["page:1h/5m"]
    first = at[_at(95)]
    assert first["burn_6h"] == pytest.approx((6 / 95) / 0.01) and first["page:6h/30m"] and not first["page:1h/5m"]
    assert not at[_at(90)]["page"], "at 01:30 one bad event of 90 burns 1.1"
    found = episodes(rates, "page")
    assert found.select("start", "end").rows() == [(_at(95), _at(120))]
    assert at[_at(95)]["ticket:1d/2h"], "1d and 2h both hold every event so far: 6 bad of 95 burns 6.3 > 3"
    assert at[_at(90)]["ticket:3d/6h"] and not at[_at(85)]["ticket"], "1 bad of 90 burns 1.11 > 1 over 3d and 6h"
    assert episodes(rates, "ticket").select("start", "end").rows() == [(_at(90), _at(120))]


def test_budget_exhaustion_forecast():
    assert exhaustion(0.5, 2.0, 30 * 86400, T0) == T0 + timedelta(days=7.5)
    assert exhaustion(0.5, 0.0, 30 * 86400, T0) is None
    assert exhaustion(-0.1, 3.0, 30 * 86400, T0) == T0


def test_shipped_specs_load():
    specs = load_all([ROOT / "slo" / "specs"])
    assert {s.sli for s in specs} >= {SliId.M1, SliId.M2, SliId.M4, SliId.M5, SliId.M6, SliId.M8}
    success = [s for s in specs if s.sli is SliId.M1]
    assert sorted(s.objective for s in success) == [0.95, 0.99]
    interactive = next(s for s in specs if s.sli is SliId.M2)
    assert interactive.filter == {"priority": ["interactive"]} and interactive.parameters.queue_wait_seconds == 30


@pytest.mark.parametrize("text, reason", [
    ("version: qtenancy/v1\nslos:\n  - {name: x, sli: M1, objective: 101}\n",
     "slos.0.objective: Input should be less than or equal to 100"),
    ("version: qtenancy/v1\nslos:\n  - {name: x, sli: M9, objective: 99}\n", "slos.0.sli: Input should be"),
    ("version: qtenancy/v1\nslos:\n  - {name: x, sli: M1, objective: 99, window: soon}\n",
     "slos.0.window: Value error, 'soon' is not a duration"),
    ("version: qtenancy/v1\nslos:\n  - {name: x, sli: M1, objective: 99, filter: {colour: [red]}}\n",
     "slos.0.filter.colour.[key]: Input should be 'tenant', 'namespace', 'backend' or 'priority'"),
    ("version: nope/v2\n", "unknown spec version 'nope/v2'"),
])
def test_bad_native_spec_names_file_field_and_reason(tmp_path, text, reason):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as refused:
        load_specs(path)
    assert str(refused.value).startswith(f"{path}: ") and reason in str(refused.value)


@pytest.mark.parametrize("name", sorted(p.name for p in (SLOTH / "validate" / "good").glob("*")))
def test_sloths_good_fixtures_validate(name):
    assert load_specs(SLOTH / "validate" / "good" / name)


@pytest.mark.parametrize("name", sorted(p.name for p in (SLOTH / "validate" / "bad").glob("*")))
def test_sloths_bad_fixtures_are_refused(name):
    with pytest.raises(SpecError):
        load_specs(SLOTH / "validate" / "bad" / name)


@pytest.mark.parametrize("name", ["k8s", "openslo", "prom"])
def test_sloths_duplicate_ids_across_files_are_refused(name):
    with pytest.raises(SpecError, match="duplicate SLO ids"):
        load_all([SLOTH / "validate_with_duplicates" / name])


def test_a_sloth_slo_without_a_catalogue_label_is_valid_but_not_computable():
    specs = load_specs(SLOTH / "in-base.yaml")
    assert [s.sli for s in specs] == [None, None]
    with pytest.raises(ValueError, match="label it qtenancy_sli"):
        events(specs[0], Tables(_jobs([{}]), EMPTY), T0).collect()


def test_openslo_v1_with_a_qtenancy_metric_source(tmp_path):
    path = tmp_path / "openslo.yaml"
    path.write_text(
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: success}\nspec:\n  ratioMetric:\n"
        "    good: {metricSource: {type: qtenancy, spec: {sli: M1}}}\n"
        "    total: {metricSource: {type: qtenancy, spec: {sli: M1}}}\n---\n"
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: job-success}\nspec:\n  service: qpu\n"
        "  indicatorRef: success\n  budgetingMethod: Occurrences\n  timeWindow: [{duration: 28d, isRolling: true}]\n"
        "  objectives: [{target: 0.98}]\n"
    )
    (spec,) = load_specs(path)
    assert (spec.sli, spec.objective, spec.window.seconds) == (SliId.M1, 0.98, 28 * 86400)
