from __future__ import annotations

import assay.monitor


def test_public_surface_is_sorted_and_complete() -> None:
    names = assay.monitor.__all__
    assert names == sorted(names)
    assert set(names) == {
        "SCOPES", "BufferFull", "Client", "Monitor", "MonitorService", "MonitorSpec", "Rule", "WindowSpec", "add_user", "breaching_rules",
        "create_monitor", "create_token", "delete_monitor", "get_monitor", "get_window", "list_alerts", "list_monitors", "list_resolutions", "list_tokens",
        "list_users", "list_windows", "mean_interval", "parse_rule", "parse_window", "remove_user", "revoke_token", "store_labels", "verify_password",
        "verify_token", "wilson_interval", "window_labels", "window_metrics",
    }  # fmt: skip
    for name in names:
        assert getattr(assay.monitor, name) is not None


def test_monitor_package_needs_no_web_stack() -> None:
    import subprocess
    import sys

    code = "import sys, assay.monitor; print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'jinja2', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
