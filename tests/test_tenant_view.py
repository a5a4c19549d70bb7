"""A tenant's view of the game day: one job explained, a statement in money, and every tenant-scope output free
of any other tenant (ids, namespaces, provenance IDs)."""

import json
import re
from datetime import timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from collector.config import Tokens
from collector.correlate import correlate
from collector.server import CollectorServer
from contract.billing import write_billing_terms
from contract.data_dir import BILLING_TERMS, STORE
from contract.tables import read_jobs
from emulator.bulk_sink import write_bulk
from emulator.meter import billing_terms
from qtenancy.cli import app
from slo.analysis import detect, slo_results, store_tables
from slo.catalogue import SliId
from slo.explain import explain
from slo.incidents import incidents
from slo.postmortem import Scope
from slo.postmortem_files import write_postmortem
from slo.report import data_end, markdown_sections, to_json_with, to_markdown
from slo.shipped import shipped_specs
from slo.sli import sli_table
from slo.spec_files import load_all
from slo.specs import Window
from slo.statement import statement
from slo.tenant_reads import StoreReads
from slo.tenant_scope import incident_list, report_for
from slo.viewer import Viewer

from .conftest import TEST_SCENARIOS, run_of
from .test_collector import ADMIN, LAB, OWNER, _config, _get

PID = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture(scope="module")
def view(game_day, game_day_store, tmp_path_factory):
    """The game day's data directory with its billing terms, its tables, and the platform's detections once."""
    data = tmp_path_factory.mktemp("tenant-view")
    (data / STORE).symlink_to(game_day_store)
    terms = billing_terms(game_day.scenario)
    write_billing_terms(terms, data / BILLING_TERMS)
    tables = store_tables(game_day_store, terms)
    specs = load_all([shipped_specs()])
    as_of = data_end(tables)
    results = slo_results(specs, tables, {t.id: t.quota_share for t in game_day.scenario.tenants}, as_of, None)
    return data, terms, tables, specs, as_of, results, detect(specs, tables, as_of, results[1])


def _pick(tables, *conditions) -> str:
    return tables.jobs.filter(*conditions).sort("finished_at", "provenance_id").select("provenance_id").head(1) \
        .collect().item()


def test_explain_names_the_cause_and_the_money(view):
    data, terms, tables, *_ = view
    unusable = _pick(tables, pl.col("tenant") == "fintech", pl.col("outcome") == "succeeded", ~pl.col("usable"),
                     pl.col("billed_seconds") > 0)
    why = explain(tables, unusable, Viewer("fintech"), terms)
    floor, measured = why.outcome["fidelity_floor"], why.outcome["measured_fidelity"]
    assert floor == 0.6 and measured < floor
    assert f"fidelity under your floor: measured {measured:.3f}, floor 0.600" in why.causes
    assert why.billing["billed_amount"] > 0 and why.billing["currency"] == "USD"
    assert any(c.startswith(f"billed {why.billing['billed_amount']:.2f} USD for a result you cannot use")
               for c in why.causes)
    down = _pick(tables, pl.col("reason") == "backend_down")
    assert explain(tables, down, Viewer(None), terms).causes[0] == "outage: perth was down, so the job could not run there"
    timeout = _pick(tables, pl.col("reason") == "preprocess_timeout")
    assert explain(tables, timeout, Viewer("qchem"), terms).causes[0].startswith("timeout: classical pre-processing")
    hit = _pick(tables, pl.col("tenant") == "qchem", pl.col("backend") == "manila",
                pl.col("execute_start") > pl.datetime(2026, 11, 6, 9, time_zone="UTC"),
                pl.col("measured_fidelity") < 0.95 * pl.col("predicted_fidelity"))
    crosstalk = [c for c in explain(tables, hit, Viewer("qchem"), terms).causes if c.startswith("crosstalk")]
    assert crosstalk and "another tenant's work ran beside it" in crosstalk[0] and "startup" not in crosstalk[0]
    assert "job(s)" not in crosstalk[0], "how many jobs another tenant ran is not the tenant's to read"
    printed = CliRunner().invoke(app, ["jobs", "explain", unusable, "--data-dir", str(data), "--tenant", "fintech"])
    assert printed.exit_code == 0, printed.output
    assert "floor 0.600" in printed.output and "USD" in printed.output
    assert explain(tables, unusable, Viewer("qchem"), terms) is None, "another tenant's job is no such job"
    refused = CliRunner().invoke(app, ["jobs", "explain", unusable, "--data-dir", str(data), "--tenant", "nobody"])
    assert refused.exit_code == 2 and "known: fintech, physics, qchem" in refused.output


def test_statement_totals_are_the_lines_and_reconcile_with_m6(view):
    _, terms, tables, specs, as_of, *_ = view
    start = as_of - timedelta(days=7)
    bill = statement(tables.jobs, Viewer("fintech"), "fintech", start, as_of, terms)
    assert bill.totals["billed_amount"] == pytest.approx(bill.lines["billed_amount"].sum())
    assert bill.totals["billed_amount"] == pytest.approx(bill.days["billed_amount"].sum())
    assert bill.totals["billed_amount"] > 1000
    spec = next(s for s in specs if s.sli is SliId.M6)
    m6 = sli_table(spec, tables, as_of, Window(7 * 86400.0)).filter(pl.col("group") == "fintech").row(0, named=True)
    assert (bill.m6["events"], bill.m6["good"]) == (m6["total"], m6["good"])
    misbilled = bill.lines.filter((pl.col("billed_seconds") - pl.col("owed_seconds")).abs() > 1e-3)
    assert misbilled.height >= m6["total"] - m6["good"] > 1000, \
        "the billing fault halves fintech's entries (a line whose traced execution was lost is no M6 event)"
    assert misbilled["dispute"].null_count() == 0, "every misbilled line is disputed"
    assert misbilled["provenance_id"].str.len_chars().to_list() == [32] * misbilled.height
    assert bill.lines.filter(pl.col("dispute") == "billed for an unusable result").height > 0
    with pytest.raises(PermissionError):
        statement(tables.jobs, Viewer("qchem"), "fintech", start, as_of, terms)


def test_statement_command_prints_lines_and_refuses_bad_requests(view):
    data, *_ = view
    run = CliRunner()
    window = ["--from", "2026-11-07T00:00:00Z", "--to", "2026-11-07T12:00:00Z"]
    csv = run.invoke(app, ["billing", "statement", "--tenant", "fintech", "--data-dir", str(data), "--format", "csv", *window])
    assert csv.exit_code == 0, csv.output
    lines = pl.read_csv(csv.stdout.encode())
    assert lines.columns[:3] == ["day", "kind", "provenance_id"] and lines["billed_amount"].sum() > 0
    assert lines.filter(pl.col("dispute") == "under-billed against the traced usage").height > 100, "fault F5"
    nobody = run.invoke(app, ["billing", "statement", "--tenant", "nobody", "--data-dir", str(data)])
    assert nobody.exit_code == 2 and "no tenant 'nobody'" in nobody.output and "known: fintech" in nobody.output
    backwards = run.invoke(app, ["billing", "statement", "--tenant", "fintech", "--data-dir", str(data),
                                 "--from", "2026-11-07T12:00:00Z", "--to", "2026-11-07T00:00:00Z"])
    assert backwards.exit_code == 2 and "must be after --from" in backwards.output
    bad_terms = data.parent / "bad-terms"
    bad_terms.mkdir()
    (bad_terms / STORE).symlink_to((data / STORE).resolve())
    (bad_terms / BILLING_TERMS).write_text("prices: {per_second: {perth: -1}}\n")
    refused = run.invoke(app, ["jobs", "explain", "0" * 32, "--data-dir", str(bad_terms)])
    assert refused.exit_code == 2 and "billing-terms.yaml" in refused.output and "prices" in refused.output


def _leaks(text: str, tenant: str, names: pl.DataFrame, own_ids: set[str]) -> list[str]:
    """Other tenants' ids, namespaces and provenance IDs found in ``text``, and their workload names when
    ``names`` has them (the game day's are distinctive words; some scenarios' are not)."""
    own = names.filter(pl.col("tenant") == tenant)
    words = {t for t in names["tenant"] if t != tenant}
    for column in {"namespace", "workload"} & set(names.columns):
        words |= {n for n in names[column].drop_nulls() if n not in set(own[column])}
    named = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
    return sorted(set(named.findall(text))) + sorted(set(PID.findall(text)) - own_ids)


def test_no_tenant_scope_output_names_another_tenant(view, tmp_path):
    _, terms, tables, specs, as_of, (results, analyses), detections = view
    names = tables.jobs.select("tenant", "namespace", "workload").drop_nulls().unique().collect()
    found = incidents(detections.signals)
    for tenant in sorted(names["tenant"]):
        viewer = Viewer(tenant)
        own_ids = set(tables.jobs.filter(pl.col("tenant") == tenant).select("provenance_id").collect().to_series())
        mine, seen = report_for(results, analyses, tables.jobs, viewer)
        listed = incident_list(detections.signals, tables.jobs, as_of - timedelta(days=30), as_of, viewer)
        outputs = {"report json": to_json_with(mine, seen, as_of),
                   "report md": to_markdown(mine, as_of) + markdown_sections(seen),
                   "incidents": listed.write_json()}
        same = found.join(listed.select("incident", "start", "detected_at", "resolved_at"), on="incident")
        assert same.filter(pl.col("start") != pl.col("start_right")).is_empty(), "incident facts are the platform's"
        assert same.filter(pl.col("resolved_at") != pl.col("resolved_at_right")).is_empty()
        flooded = listed.filter(pl.col("suspects").list.len() > 0)
        row = (flooded if flooded.height else listed if listed.height else found) \
            .sort("signals", "incident", descending=[True, False]).row(0, named=True)
        written = write_postmortem(specs, tables, detections, Scope(row["start"], row["resolved_at"], tenant=tenant),
                                   None, tmp_path / tenant, viewer)
        outputs |= {f"postmortem {k}": p.read_text() for k, p in written.items() if p.suffix in (".md", ".html", ".csv")}
        suspects = outputs["postmortem markdown"].split("## Noisy-neighbour suspects")[1].split("##")[0]
        assert all(f"| {tenant} |" in line for line in suspects.splitlines() if line.startswith("| ") and
                   not line.startswith("| victim")), f"{tenant} reads of no other victim:\n{suspects}"
        bill = statement(tables.jobs, viewer, tenant, as_of - timedelta(days=1), as_of, terms)
        outputs |= {"statement csv": bill.lines.write_csv(), "statement json": json.dumps(bill.as_dict(), default=str)}
        outputs["explain"] = json.dumps(explain(tables, sorted(own_ids)[0], viewer, terms).as_dict(), default=str)
        assert _leaks(found.write_json(), tenant, names, own_ids), "the search finds others in the platform's view"
        for what, text in outputs.items():
            leaks = _leaks(text, tenant, names, own_ids)
            assert not leaks, f"{tenant}'s {what} shows {leaks[:5]}"
        platform = {(r.spec.name, row["group"]): row["sli"] for r in results for row in r.rows}
        assert all(platform[(r.spec.name, row["group"])] == row["sli"] for r in mine for row in r.rows), \
            "a tenant sees the platform's values, never recomputed from its own jobs"


def test_http_reads_for_tenants_are_their_own_view_audited_and_404_for_others(tmp_path):
    data = tmp_path / "data"
    run = run_of(TEST_SCENARIOS / "telemetry.yaml")
    write_bulk(run, data / STORE)
    correlate(data / STORE)
    write_billing_terms(billing_terms(run.scenario), data / BILLING_TERMS)
    jobs = read_jobs(data / STORE).collect()
    own = {t: set(jobs.filter(pl.col("tenant") == t)["provenance_id"]) for t in ("lab", "owner")}
    names = jobs.select("tenant", "namespace").drop_nulls().unique()
    tokens = Tokens(admin=[ADMIN], tenants={"lab": LAB, "owner": OWNER})
    specs = load_all([shipped_specs()])
    with CollectorServer(_config(tmp_path, tokens=tokens), StoreReads(data, specs)) as server:
        api = f"{server.http_endpoint}/api/v1"
        hurt = {t: {i["incident"] for i in _get(f"{api}/incidents", token)[1]["incidents"]}
                for t, token in (("lab", LAB), ("owner", OWNER))}
        assert hurt["lab"] - hurt["owner"], "an incident only one tenant may read, to try the other's token on"
        for tenant, token, other in (("lab", LAB, "owner"), ("owner", OWNER, "lab")):
            mine, theirs = sorted(own[tenant])[0], sorted(own[other])[0]
            routes = {"explain": f"{api}/jobs/{mine}/explain", "billing": f"{api}/billing",
                      "report": f"{api}/slo/report", "incidents": f"{api}/incidents"}
            bodies = {}
            for what, url in routes.items():
                status, bodies[what] = _get(url, token)
                assert status == 200, (tenant, what, bodies[what])
            for found in bodies["incidents"]["incidents"]:
                status, bodies[found["incident"]] = _get(f"{api}/incidents/{found['incident']}/postmortem", token)
                assert status == 200 and bodies[found["incident"]]["tenants"] == [tenant]
            for what, body in bodies.items():
                assert not _leaks(json.dumps(body), tenant, names, own[tenant]), (tenant, what)
            assert bodies["billing"]["tenant"] == tenant and bodies["billing"]["totals"]["billed_amount"] > 0
            foreign = [f"{api}/jobs/{theirs}/explain", f"{api}/billing?tenant={other}", f"{api}/slo/report?tenant={other}",
                       f"{api}/incidents?tenant={other}", f"{api}/billing?tenant=nobody",
                       *(f"{api}/incidents/{i}/postmortem" for i in sorted(hurt[other] - hurt[tenant]))]
            for url in foreign:
                status, body = _get(url, token)
                assert status == 404 and "known" not in body["error"], url
        status, body = _get(f"{api}/slo/report?tenant=nobody", ADMIN)
        assert status == 404 and "known: lab, owner" in body["error"]
        assert _get(f"{api}/billing?from=yesterday", LAB)[0] == 400
    trail = [json.loads(line) for line in (data / "audit.log").read_text().splitlines()]
    reads = [(r["actor"], r["action"], r["detail"]["found"]) for r in trail if r["action"].startswith("read_")]
    assert ("tenant:lab", "read_explain", True) in reads and ("tenant:owner", "read_explain", False) in reads
    assert {a for _, a, _ in reads} == {"read_explain", "read_billing", "read_slo_report", "read_incidents",
                                        "read_postmortem"}
    assert len(reads) >= 2 * (4 + 5) + 1
