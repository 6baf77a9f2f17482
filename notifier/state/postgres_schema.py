"""The PostgreSQL store's schema, version by version, numbered like the SQLite one
(notifier.state.migrations) so `schema_version` in meta means the same tables on both:
a PostgreSQL store starts at version 2, the SQLite schema it was written beside. Each
script runs in its own transaction under an advisory transaction lock, so replicas
starting together migrate once (notifier.state.postgres.PostgresStore._migrate).
Never edit a released script: add the next version, beside its SQLite twin.

Beyond the SQLite tables, PostgreSQL keeps what several replicas share: `replicas` (each
live `notifier run`, with a heartbeat), `leases` (the poller lease) and
`outbox.claimed_by` (which replica holds a claim, so the claims of a dead replica are
given back as soon as its heartbeat stops instead of when their lease runs out), and
`outbox.seq`, the order rows were queued in (SQLite's rowid), to break ties in time.
`seen.key` compares bytewise (COLLATE "C", as SQLite does), so `count_seen`'s prefix
range is a range scan of the primary key whatever the database's locale.
"""

from notifier.state.migrations import _SCHEMA_V14, SCHEMA_VERSION

_PG_V2 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, key TEXT COLLATE "C" NOT NULL, seen_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS seen_age ON seen (seen_at);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, channel TEXT NOT NULL,
    event TEXT NOT NULL, event_key TEXT NOT NULL, alerts TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL, sent_at DOUBLE PRECISION, last_error TEXT,
    claimed_until DOUBLE PRECISION, group_key TEXT, claimed_by TEXT,
    seq BIGSERIAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
CREATE INDEX IF NOT EXISTS outbox_group ON outbox (rule, channel, group_key, status);
CREATE INDEX IF NOT EXISTS outbox_channel_due ON outbox (channel, next_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS outbox_claimed ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS source_status (
    source TEXT PRIMARY KEY, last_success TEXT, last_error TEXT, last_attempt TEXT
);
CREATE TABLE IF NOT EXISTS state (
    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS replicas (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL, alive_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, until DOUBLE PRECISION NOT NULL
)
"""

# The inbox of Testpress's webhooks (contract section 10), as SQLite's version 3.
_PG_V3 = """
CREATE TABLE IF NOT EXISTS inbox (
    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0, next_at DOUBLE PRECISION NOT NULL,
    done_at DOUBLE PRECISION, last_error TEXT
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (status, next_at)
"""

# History (contract section 11), as SQLite's version 4: each event compactly, ordered
# by its primary key for the one question asked of it, and each student's latest activity.
_PG_V4 = """
CREATE TABLE IF NOT EXISTS history (
    kind TEXT NOT NULL, subject TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (kind, subject, at, key)
);
CREATE INDEX IF NOT EXISTS history_age ON history (at);
CREATE TABLE IF NOT EXISTS activity (
    user_id TEXT PRIMARY KEY, email TEXT, at DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
    title TEXT, student TEXT
);
CREATE INDEX IF NOT EXISTS activity_email ON activity (email)
"""

# No poison (contract section 7), as SQLite's version 6: processing failures of outbox
# rows counted apart from a channel's answers, and polled records that failed.
_PG_V6 = """
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS faults INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS record_faults (
    source TEXT NOT NULL, key TEXT COLLATE "C" NOT NULL, tries INTEGER NOT NULL,
    status TEXT NOT NULL, next_at DOUBLE PRECISION NOT NULL,
    failed_at DOUBLE PRECISION NOT NULL, last_error TEXT,
    PRIMARY KEY (source, key)
)
"""

# The webhooks already received, as SQLite's version 5 (a table of its own).
_PG_V5 = """
CREATE TABLE IF NOT EXISTS inbox_received (
    kind TEXT NOT NULL, key TEXT COLLATE "C" NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS inbox_received_age ON inbox_received (received_at)
"""

# The receiver's id for a sent message, as SQLite's version 7.
_PG_V7 = """
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS message_ref TEXT
"""

# What people do to alerts, as SQLite's version 8.
_PG_V8 = """
CREATE TABLE IF NOT EXISTS mutes (
    id TEXT PRIMARY KEY, student TEXT, rule TEXT, channel TEXT,
    until DOUBLE PRECISION NOT NULL, made_by TEXT NOT NULL, reason TEXT NOT NULL,
    source TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION, ended_by TEXT
);
CREATE INDEX IF NOT EXISTS mutes_until ON mutes (until);
CREATE TABLE IF NOT EXISTS follow_ups (
    delivery TEXT PRIMARY KEY, followed_by TEXT NOT NULL, by_name TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, source TEXT NOT NULL, rule TEXT NOT NULL,
    channel TEXT NOT NULL, student TEXT, user_id TEXT
);
CREATE INDEX IF NOT EXISTS follow_ups_at ON follow_ups (at);
CREATE TABLE IF NOT EXISTS message_rows (
    message TEXT NOT NULL, delivery TEXT NOT NULL, PRIMARY KEY (message, delivery)
);
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL,
    source TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS mute_id TEXT;
CREATE INDEX IF NOT EXISTS outbox_message_ref ON outbox (message_ref)
    WHERE message_ref IS NOT NULL
"""

# The console's users and sessions, and its pages' indexes, as SQLite's version 9.
_PG_V9 = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_name);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
CREATE INDEX IF NOT EXISTS outbox_student ON outbox ((alerts::jsonb -> 0 -> 'data' ->> 'user_id'));
CREATE INDEX IF NOT EXISTS outbox_email
    ON outbox ((lower(alerts::jsonb -> 0 -> 'data' ->> 'email')));
CREATE INDEX IF NOT EXISTS history_subject ON history (subject, at)
"""

# The rules kept as versions, as SQLite's version 10.
_PG_V10 = """
CREATE TABLE IF NOT EXISTS rules_versions (
    number INTEGER PRIMARY KEY, author TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    note TEXT NOT NULL, yaml TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS rules_versions_one_active ON rules_versions (active)
    WHERE active = 1
"""

# Each try of a delivery, as SQLite's version 11.
_PG_V11 = """
CREATE TABLE IF NOT EXISTS outbox_tries (
    delivery TEXT NOT NULL, number INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL, answer TEXT NOT NULL, error TEXT,
    PRIMARY KEY (delivery, number)
)
"""

# The rule tests kept beside a rules version, as SQLite's version 12.
_PG_V12 = """
ALTER TABLE rules_versions ADD COLUMN IF NOT EXISTS tests TEXT
"""

# The outbox's student columns, and history without its (subject, at) index, as
# SQLite's version 13. `alerts` stays JSON text here:
# PostgreSQL compresses a value of more than about 2 KB itself (TOAST).
_PG_V13 = """
DROP INDEX IF EXISTS outbox_student;
DROP INDEX IF EXISTS outbox_email;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS user_id TEXT;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS email TEXT;
UPDATE outbox SET user_id = alerts::jsonb -> 0 -> 'data' ->> 'user_id',
    email = lower(alerts::jsonb -> 0 -> 'data' ->> 'email');
CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_mail ON outbox (email) WHERE email IS NOT NULL;
DROP INDEX IF EXISTS history_subject
"""

# (version, script): applied in order to bring any older store up to SCHEMA_VERSION.
PG_MIGRATIONS = (
    (2, _PG_V2),
    (3, _PG_V3),
    (4, _PG_V4),
    (5, _PG_V5),
    (6, _PG_V6),
    (7, _PG_V7),
    (8, _PG_V8),
    (9, _PG_V9),
    (10, _PG_V10),
    (11, _PG_V11),
    (12, _PG_V12),
    (13, _PG_V13),
    (14, _SCHEMA_V14),  # the same script on both
)

__all__ = ["PG_MIGRATIONS", "SCHEMA_VERSION"]
