"""The Alertmanager configuration: pages and tickets routed apart, grouped by tenant, backend and alert.

Alertmanager de-duplicates identical alerts by itself; the grouping keeps one notification per alert,
tenant and backend. A page inhibits the ticket of the same alert (Sloth's page and ticket share a name);
a calibrating backend inhibits its backend-scoped alerts; info alerts reach nobody.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, HttpUrl

from contract.alert_catalogue import BACKEND_CALIBRATING


class Receivers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    page_url: HttpUrl = HttpUrl("http://127.0.0.1:9095/page")
    ticket_url: HttpUrl = HttpUrl("http://127.0.0.1:9095/ticket")


GROUP_BY = ["alertname", "tenant", "backend", "sloth_id"]


def alertmanager_config(receivers: Receivers) -> dict:
    return {
        "route": {
            "receiver": "ticket",
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {"matchers": ['severity="page"'], "receiver": "page", "group_wait": "10s", "repeat_interval": "1h"},
                {"matchers": ['severity="ticket"'], "receiver": "ticket"},
                {"matchers": ['severity="info"'], "receiver": "blackhole"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": ["alertname", "tenant", "backend", "sloth_id"],
            },
            {
                "source_matchers": [f'alertname="{BACKEND_CALIBRATING.name}"'],
                "target_matchers": ['scope="backend"'],
                "equal": ["backend"],
            },
        ],
        "receivers": [
            {"name": "page", "webhook_configs": [{"url": str(receivers.page_url), "send_resolved": True}]},
            {"name": "ticket", "webhook_configs": [{"url": str(receivers.ticket_url), "send_resolved": True}]},
            {"name": "blackhole"},
        ],
    }
