"""The data pillar: content-addressed, deduplicated, verified dataset versions.

Names load on first use: `assay data status` on a clean tree needs neither the
chunker nor the pack code (NumPy, BLAKE3, FastCDC), and start-up is most of its time.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not loaded for this (see _prefetch.py)
if TYPE_CHECKING:
    from typing import Any

    from assay.data._add import AddResult, add
    from assay.data._checkout import CheckoutResult, checkout
    from assay.data._diff import DatasetDiff, diff
    from assay.data._gc import GcResult, gc
    from assay.data._pull import pull
    from assay.data._remote import TransferResult, push
    from assay.data._remote_config import RemoteInfo, add_remote, list_remotes, remove_remote
    from assay.data._remote_log import remote_log, remote_ls
    from assay.data._repair import RepairResult, repair
    from assay.data._snapshot import FileManifest, Snapshot
    from assay.data._status import Status, status
    from assay.data._verify import VerifyReport, verify
    from assay.data._versions import (
        Version,
        list_datasets,
        log,
        ls,
        resolve,
    )

__all__ = [
    "AddResult",
    "CheckoutResult",
    "DatasetDiff",
    "FileManifest",
    "GcResult",
    "RemoteInfo",
    "RepairResult",
    "Snapshot",
    "Status",
    "TransferResult",
    "VerifyReport",
    "Version",
    "add",
    "add_remote",
    "checkout",
    "diff",
    "gc",
    "list_datasets",
    "list_remotes",
    "log",
    "ls",
    "pull",
    "push",
    "remote_log",
    "remote_ls",
    "remove_remote",
    "repair",
    "resolve",
    "status",
    "verify",
]

_WHERE = {
    "AddResult": "_add", "add": "_add",
    "CheckoutResult": "_checkout", "checkout": "_checkout",
    "DatasetDiff": "_diff", "diff": "_diff",
    "GcResult": "_gc", "gc": "_gc",
    "TransferResult": "_remote", "add_remote": "_remote_config", "pull": "_pull", "push": "_remote",
    "remove_remote": "_remote_config", "list_remotes": "_remote_config", "RemoteInfo": "_remote_config",
    "remote_log": "_remote_log", "remote_ls": "_remote_log",
    "RepairResult": "_repair", "repair": "_repair",
    "FileManifest": "_snapshot", "Snapshot": "_snapshot",
    "Status": "_status", "status": "_status",
    "VerifyReport": "_verify", "verify": "_verify",
    "Version": "_versions", "list_datasets": "_versions", "log": "_versions",
    "ls": "_versions", "resolve": "_versions",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.data' has no attribute {name!r}")
    value = getattr(__import__(f"assay.data.{module}", fromlist=[name]), name)  # importlib would load its package
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
