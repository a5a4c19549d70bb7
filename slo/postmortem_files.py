"""A postmortem of one window written to a directory: the facts, the plots, Markdown and HTML."""

from __future__ import annotations

from pathlib import Path

from slo.analysis import Detections
from slo.catalogue import SliParameters
from slo.postmortem import Scope, build
from slo.postmortem_plots import all_plots
from slo.postmortem_render import to_html, write
from slo.sli import Tables
from slo.specs import SloSpec
from slo.viewer import OPERATOR, Viewer


def _report(specs: list[SloSpec], tables: Tables, detections: Detections, scope: Scope, faults: list[dict] | None,
            viewer: Viewer = OPERATOR):
    return build(tables, scope, detections.signals, specs, detections.neighbours,
                 SliParameters().billing_tolerance_seconds, faults, viewer)


def write_postmortem(specs: list[SloSpec], tables: Tables, detections: Detections, scope: Scope,
                     faults: list[dict] | None, out: Path, viewer: Viewer = OPERATOR) -> dict[str, Path]:
    report = _report(specs, tables, detections, scope, faults, viewer)
    return write(report, all_plots(report, specs), out)


def postmortem_page(specs: list[SloSpec], tables: Tables, detections: Detections, scope: Scope,
                    viewer: Viewer = OPERATOR) -> str:
    """The postmortem as one self-contained HTML page (plots inlined), for the console."""
    report = _report(specs, tables, detections, scope, None, viewer)
    return to_html(report, all_plots(report, specs))
