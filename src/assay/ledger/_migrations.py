"""Versioned schema of the ledger. Append new migrations; never edit an applied one.

The SQL is the common subset of SQLite and PostgreSQL: TEXT ids, BIGINT sizes,
ISO-8601 UTC timestamps as TEXT, JSON documents as TEXT.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "datasets, versions, runs and lineage edges",
        [
            """CREATE TABLE datasets (
                name TEXT PRIMARY KEY,
                kind TEXT NOT NULL DEFAULT 'dataset',
                created_at TEXT NOT NULL,
                sources TEXT NOT NULL DEFAULT '[]',
                meta TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE versions (
                id TEXT PRIMARY KEY,
                dataset TEXT NOT NULL REFERENCES datasets(name),
                number INTEGER NOT NULL,
                snapshot TEXT NOT NULL,
                message TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL,
                files BIGINT NOT NULL,
                bytes BIGINT NOT NULL,
                run_id TEXT,
                meta TEXT NOT NULL DEFAULT '{}',
                UNIQUE (dataset, number)
            )""",
            "CREATE INDEX versions_snapshot ON versions (snapshot)",
            """CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                command TEXT NOT NULL DEFAULT '[]',
                params TEXT NOT NULL DEFAULT '{}',
                env TEXT NOT NULL DEFAULT '{}',
                status TEXT NOT NULL,
                exit_code INTEGER,
                started_at TEXT NOT NULL,
                ended_at TEXT
            )""",
            """CREATE TABLE edges (
                src TEXT NOT NULL,
                dst TEXT NOT NULL,
                relation TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (src, dst, relation)
            )""",
            "CREATE INDEX edges_dst ON edges (dst)",
            """CREATE TABLE records (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL,
                verdict TEXT,
                body TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX records_kind ON records (kind, created_at)",
        ],
    ),
]
