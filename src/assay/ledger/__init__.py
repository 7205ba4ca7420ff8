"""Metadata in SQL: SQLite by default, PostgreSQL at scale."""

from assay.ledger._ledger import (
    IntegrityConflict,
    Ledger,
    SQLiteLedger,
    open_ledger,
    utcnow,
)

__all__ = ["IntegrityConflict", "Ledger", "SQLiteLedger", "open_ledger", "utcnow"]
