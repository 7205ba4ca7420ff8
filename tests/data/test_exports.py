"""The public surface of assay.data."""

from __future__ import annotations

import assay.data


def test_all_is_sorted_and_exact() -> None:
    assert assay.data.__all__ == sorted(assay.data.__all__)
    assert assay.data.__all__ == [
        "AddResult", "CheckoutResult", "DatasetDiff", "FileManifest", "GcResult", "RemoteInfo", "RepairResult", "Snapshot", "Status",
        "TransferResult", "VerifyReport", "Version", "add", "add_remote", "checkout", "diff", "gc", "list_datasets", "list_remotes",
        "log", "ls", "pull", "push", "remote_log", "remote_ls", "remove_remote", "repair", "resolve", "status", "verify",
    ]  # fmt: skip
    for name in assay.data.__all__:
        assert getattr(assay.data, name) is not None
    assert set(dir(assay.data)) >= set(assay.data.__all__)
