"""Links into Grafana's Explore for one job: its trace in Tempo and its log records in Loki.

Dashboards, postmortems and the console link a provenance ID the same way. The data source UIDs are those
deploy/grafana/provisioning gives Tempo and Loki; a dashboard passes its data source variables instead.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime

from contract.semconv import Attr

GRAFANA_URL = "http://localhost:3000"
"""Grafana in the compose stack; a postmortem's links point here unless told otherwise."""
TEMPO = {"type": "tempo", "uid": "tempo"}
LOKI = {"type": "loki", "uid": "loki"}
LOG_ATTRIBUTE = Attr.PROVENANCE_ID.value.replace(".", "_")
"""Loki's OTLP endpoint keeps log attributes as structured metadata, dots turned to underscores."""


def trace_query(provenance_id: str) -> str:
    return f'{{ trace:id = "{provenance_id}" }}'


def logs_query(provenance_id: str) -> str:
    return f'{{service_name=~".+"}} | {LOG_ATTRIBUTE} = `{provenance_id}`'


def explore_url(datasource: dict, query: dict, base: str = "", window: tuple[datetime, datetime] | None = None) -> str:
    """Explore in its current ``panes`` form; ``${...}`` dashboard variables stay readable for interpolation."""
    span = {"from": "now-24h", "to": "now"} if window is None else {
        "from": str(int(window[0].timestamp() * 1000)), "to": str(int(window[1].timestamp() * 1000))}
    pane = {"a": {"datasource": datasource["uid"], "queries": [{"refId": "A", "datasource": datasource, **query}],
                  "range": span}}
    encoded = urllib.parse.quote(json.dumps(pane, separators=(",", ":")), safe="${}:,")
    return f"{base}/explore?schemaVersion=1&orgId=1&panes={encoded}"


def trace_url(provenance_id: str, window: tuple[datetime, datetime] | None = None, base: str = GRAFANA_URL) -> str:
    return explore_url(TEMPO, {"queryType": "traceql", "query": trace_query(provenance_id)}, base, window)


def logs_url(provenance_id: str, window: tuple[datetime, datetime] | None = None, base: str = GRAFANA_URL) -> str:
    return explore_url(LOKI, {"expr": logs_query(provenance_id)}, base, window)
