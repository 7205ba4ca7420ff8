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

MIGRATIONS.append(
    (
        2,
        "monitoring service: monitors, ingested batches, windows, alerts, webhook deliveries, labels, tokens, users",
        [
            """CREATE TABLE monitors (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                reference TEXT NOT NULL,
                version_id TEXT NOT NULL,
                spec TEXT NOT NULL,
                profile_key TEXT NOT NULL,
                created_at TEXT NOT NULL,
                created_us BIGINT NOT NULL,
                next_window BIGINT NOT NULL DEFAULT 0,
                events BIGINT NOT NULL DEFAULT 0,
                batches BIGINT NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE monitor_batches (
                monitor TEXT NOT NULL REFERENCES monitors(id),
                batch_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                first_event BIGINT NOT NULL,
                n_rows BIGINT NOT NULL,
                received_us BIGINT NOT NULL,
                segment TEXT,
                seg_offset BIGINT,
                seg_length BIGINT,
                archive TEXT,
                PRIMARY KEY (monitor, batch_id),
                UNIQUE (monitor, seq)
            )""",
            "CREATE INDEX monitor_batches_segment ON monitor_batches (segment)",
            """CREATE TABLE monitor_windows (
                monitor TEXT NOT NULL REFERENCES monitors(id),
                window_idx BIGINT NOT NULL,
                start_event BIGINT NOT NULL,
                end_event BIGINT NOT NULL,
                start_us BIGINT NOT NULL,
                end_us BIGINT NOT NULL,
                n_rows BIGINT NOT NULL,
                closed_at TEXT NOT NULL,
                drift INTEGER NOT NULL,
                share DOUBLE PRECISION NOT NULL,
                summary TEXT NOT NULL,
                report_key TEXT NOT NULL,
                PRIMARY KEY (monitor, window_idx)
            )""",
            """CREATE TABLE monitor_alerts (
                id TEXT PRIMARY KEY,
                monitor TEXT NOT NULL REFERENCES monitors(id),
                window_idx BIGINT NOT NULL,
                rule TEXT NOT NULL,
                message TEXT NOT NULL,
                created_at TEXT NOT NULL,
                body TEXT NOT NULL DEFAULT '{}',
                UNIQUE (monitor, window_idx, rule)
            )""",
            "CREATE INDEX monitor_alerts_created ON monitor_alerts (created_at)",
            """CREATE TABLE webhook_deliveries (
                id TEXT PRIMARY KEY,
                alert_id TEXT NOT NULL REFERENCES monitor_alerts(id),
                url TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_us BIGINT NOT NULL,
                last_error TEXT,
                delivered_at TEXT,
                UNIQUE (alert_id, url)
            )""",
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_us)",
            """CREATE TABLE monitor_labels (
                monitor TEXT NOT NULL REFERENCES monitors(id),
                event_id TEXT NOT NULL,
                label TEXT NOT NULL,
                received_at TEXT NOT NULL,
                PRIMARY KEY (monitor, event_id)
            )""",
            """CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL DEFAULT '',
                token_hash TEXT NOT NULL UNIQUE,
                scopes TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            )""",
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        3,
        "monitor performance: each event's prediction and window by event id, labels resolved to windows, metrics per window",
        [
            """CREATE TABLE monitor_predictions (
                monitor TEXT NOT NULL REFERENCES monitors(id),
                event_id TEXT NOT NULL,
                window_idx BIGINT NOT NULL,
                prediction TEXT,
                PRIMARY KEY (monitor, event_id)
            )""",
            "CREATE INDEX monitor_predictions_window ON monitor_predictions (monitor, window_idx)",
            "ALTER TABLE monitor_labels ADD COLUMN window_idx BIGINT",
            "CREATE INDEX monitor_labels_window ON monitor_labels (monitor, window_idx)",
            """CREATE TABLE monitor_performance (
                monitor TEXT NOT NULL REFERENCES monitors(id),
                window_idx BIGINT NOT NULL,
                labelled BIGINT NOT NULL,
                metrics TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                stale INTEGER NOT NULL DEFAULT 1,
                PRIMARY KEY (monitor, window_idx)
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        4,
        "the files and folders each version was added from (status and checkout look there when it is on disk)",
        [
            """CREATE TABLE version_sources (
                version TEXT PRIMARY KEY,
                sources TEXT NOT NULL
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        5,
        "the ledger's own identity (a store shared by workspaces with different ledgers knows them apart)",
        [
            """CREATE TABLE ledger_info (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        6,
        "monitor alerts of kind 'resolved': the window that ended a rule's streak, posted through the same deliveries",
        [
            "ALTER TABLE monitor_alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert'",
        ],
    )
)
