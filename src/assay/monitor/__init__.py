"""Monitoring: watch production data against a training reference, window by window.

A monitor names a dataset version as its reference and the columns to watch; the
service (``assay serve``, in :mod:`assay.server`) ingests events durably, closes
windows, judges each one with the drift pillar from mergeable sketches, raises alerts,
records when a rule's streak of alerts ends, and delivers both to webhooks. This package holds that logic without any web stack.

Example::

    from assay.monitor import Client, create_monitor
    create_monitor(ws, "churn", "customers@v2", window="5000rows", webhooks=["http://127.0.0.1:9000/hook"])
    with Client("http://127.0.0.1:8765", token, monitor="churn") as client:
        client.log(rows)
"""

from __future__ import annotations

from assay.monitor._auth import (
    SCOPES,
    add_user,
    create_token,
    list_tokens,
    list_users,
    remove_user,
    revoke_token,
    verify_password,
    verify_token,
)
from assay.monitor._client import BufferFull, Client
from assay.monitor._monitors import (
    Monitor,
    breaching_rules,
    create_monitor,
    delete_monitor,
    get_monitor,
    get_window,
    list_alerts,
    list_monitors,
    list_resolutions,
    list_windows,
    window_labels,
)
from assay.monitor._performance import (
    mean_interval,
    store_labels,
    wilson_interval,
    window_metrics,
)
from assay.monitor._service import MonitorService
from assay.monitor._spec import MonitorSpec, Rule, WindowSpec, parse_rule, parse_window

__all__ = [
    "BufferFull",
    "Client",
    "Monitor",
    "MonitorService",
    "MonitorSpec",
    "Rule",
    "SCOPES",
    "WindowSpec",
    "add_user",
    "breaching_rules",
    "create_monitor",
    "create_token",
    "delete_monitor",
    "get_monitor",
    "get_window",
    "list_alerts",
    "list_monitors",
    "list_resolutions",
    "list_tokens",
    "list_users",
    "list_windows",
    "mean_interval",
    "parse_rule",
    "parse_window",
    "remove_user",
    "revoke_token",
    "store_labels",
    "verify_password",
    "verify_token",
    "wilson_interval",
    "window_labels",
    "window_metrics",
]
