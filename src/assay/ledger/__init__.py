"""Metadata in SQL: SQLite by default, PostgreSQL at scale."""

from assay.ledger._ledger import (
    IntegrityConflict,
    Ledger,
    SQLiteLedger,
    open_ledger,
    utcnow,
)
from assay.ledger._records import record_by_prefix

__all__ = ["IntegrityConflict", "Ledger", "SQLiteLedger", "open_ledger", "record_by_prefix", "utcnow"]
