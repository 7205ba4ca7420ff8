"""The data pillar: content-addressed, deduplicated, verified dataset versions."""

from assay.data._add import AddResult, add
from assay.data._checkout import CheckoutResult, checkout
from assay.data._diff import DatasetDiff, diff
from assay.data._gc import GcResult, gc
from assay.data._remote import TransferResult, add_remote, pull, push, remove_remote
from assay.data._snapshot import FileManifest, Snapshot
from assay.data._status import Status, status
from assay.data._verify import VerifyReport, verify
from assay.data._versions import Version, list_datasets, load_snapshot, log, ls, resolve

__all__ = [
    "AddResult",
    "CheckoutResult",
    "DatasetDiff",
    "FileManifest",
    "GcResult",
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
    "load_snapshot",
    "log",
    "ls",
    "pull",
    "push",
    "remove_remote",
    "resolve",
    "status",
    "verify",
]
