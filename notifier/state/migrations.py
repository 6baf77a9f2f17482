"""The state store's schema, version by version. A store of any older version is
brought up to SCHEMA_VERSION by running the scripts after its version, in order, each
in its own transaction (notifier.state.sqlite.Store._migrate). Never edit a released script:
add the next version."""

SCHEMA_VERSION = 14

# Only grouped rows in `outbox_group` (issue 22, schema 14): it serves the planner's
# questions about one group (`rule = ? AND channel = ? AND group_key = ?`, which imply
# `group_key IS NOT NULL`, so SQLite and PostgreSQL both use a partial index for them).
# Indexing every row cost each queued row an entry and each outcome two changes (its
# status is a key), a quarter of a sent outcome's write for rows without a group
# (bench d). PostgreSQL runs this same script (postgres_schema.PG_MIGRATIONS).
_SCHEMA_V14 = """
DROP INDEX IF EXISTS outbox_group;
CREATE INDEX IF NOT EXISTS outbox_group ON outbox (rule, channel, group_key, status)
    WHERE group_key IS NOT NULL
"""

# The rule tests kept beside a rules version (issue 21 part 4): the text of a tests file
# (the format of rules.tests.yaml), or NULL for a version saved without tests. One
# self-contained script (and its PostgreSQL twin `_PG_V12`): renumber both together.
_SCHEMA_V12 = """
ALTER TABLE rules_versions ADD COLUMN tests TEXT
"""

# A smaller outbox (issue 22, schema 13): an alert carries all its event's fields, so `alerts` is
# kept compact and zlib-compressed (a BLOB; notifier.state.packed), and the student a
# row is about (its first alert's user id and lower-cased email, what the console's
# indexes of schema 9 read out of the JSON) in columns of their own. The expression
# indexes go first: they could not read a packed row. `notifier_pack_alerts` is the
# store's own SQL function (registered on every connection). A store of an older
# version is then vacuumed once into incremental auto-vacuum (sqlite.py), so pruning
# gives its pages back. History's index on (subject, at) goes: a quarter of history's
# bytes for the console's timeline, which reads through the primary key instead.
_SCHEMA_V13 = """
DROP INDEX IF EXISTS outbox_student;
DROP INDEX IF EXISTS outbox_email;
ALTER TABLE outbox ADD COLUMN user_id TEXT;
ALTER TABLE outbox ADD COLUMN email TEXT;
UPDATE outbox SET user_id = CAST(json_extract(alerts, '$[0].data.user_id') AS TEXT),
    email = lower(json_extract(alerts, '$[0].data.email')),
    alerts = notifier_pack_alerts(alerts)
    WHERE typeof(alerts) = 'text';
CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_mail ON outbox (email) WHERE email IS NOT NULL;
DROP INDEX IF EXISTS history_subject
"""
COMPACT_SINCE = 13  # a store older than this is vacuumed once, after migrating

# Each try of a delivery (contract section 14, an alert's page): its number, time,
# outcome (sent, retry, dead), the receiver's answer in short ("503", "429 Retry-After
# 30", "ratelimited") and the redacted error; written in the transaction that records
# the outcome on the outbox row, pruned with that row.
_SCHEMA_V11 = """
CREATE TABLE IF NOT EXISTS outbox_tries (
    delivery TEXT NOT NULL, number INTEGER NOT NULL, at REAL NOT NULL,
    outcome TEXT NOT NULL, answer TEXT NOT NULL, error TEXT,
    PRIMARY KEY (delivery, number)
) WITHOUT ROWID
"""

# The rules kept as versions (contract section 14, NOTIFIER_RULES_IN_STORE): each with
# its number, author, time, note and YAML text; exactly one active (the partial unique
# index says so to the database, whatever a writer does).
_SCHEMA_V10 = """
CREATE TABLE IF NOT EXISTS rules_versions (
    number INTEGER PRIMARY KEY, author TEXT NOT NULL, created_at REAL NOT NULL,
    note TEXT NOT NULL, yaml TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS rules_versions_one_active ON rules_versions (active)
    WHERE active = 1
"""

# The console (contract section 14): its users (an Argon2id hash, never a password) and
# their sessions, kept under the SHA-256 of the cookie's token with the session's CSRF
# token; and the indexes its pages read through (alerts newest first, a student's
# alerts by the user id or email of the row's first alert, a student's timeline).
_SCHEMA_V9 = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at REAL NOT NULL, seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_name);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
CREATE INDEX IF NOT EXISTS outbox_student
    ON outbox (CAST(json_extract(alerts, '$[0].data.user_id') AS TEXT));
CREATE INDEX IF NOT EXISTS outbox_email ON outbox (lower(json_extract(alerts, '$[0].data.email')));
CREATE INDEX IF NOT EXISTS history_subject ON history (subject, at)
"""

# What people do to alerts (contract section 13): mutes (by student, rule, or both,
# optionally one channel; ended early when lifted), follow-ups (one row per delivery:
# the primary key makes the first one win, on any number of replicas), the audit log of
# every change made by a person, a group message's id with the rows it carried (a click
# names the message), and on the outbox which mute holds a muted row.
_SCHEMA_V8 = """
CREATE TABLE IF NOT EXISTS mutes (
    id TEXT PRIMARY KEY, student TEXT, rule TEXT, channel TEXT, until REAL NOT NULL,
    made_by TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL,
    created_at REAL NOT NULL, ended_at REAL, ended_by TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mutes_until ON mutes (until);
CREATE TABLE IF NOT EXISTS follow_ups (
    delivery TEXT PRIMARY KEY, followed_by TEXT NOT NULL, by_name TEXT NOT NULL,
    at REAL NOT NULL, source TEXT NOT NULL, rule TEXT NOT NULL, channel TEXT NOT NULL,
    student TEXT, user_id TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follow_ups_at ON follow_ups (at);
CREATE TABLE IF NOT EXISTS message_rows (
    message TEXT NOT NULL, delivery TEXT NOT NULL, PRIMARY KEY (message, delivery)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL,
    source TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
ALTER TABLE outbox ADD COLUMN mute_id TEXT;
CREATE INDEX IF NOT EXISTS outbox_message_ref ON outbox (message_ref)
    WHERE message_ref IS NOT NULL
"""

# The receiver's id for a sent message (Slack's channel and ts, an email's Message-ID,
# a webhook's id), as JSON, so a later action can update the message a row went out in.
_SCHEMA_V7 = """
ALTER TABLE outbox ADD COLUMN message_ref TEXT
"""

# No poison (contract section 7): an outbox row counts the tries that failed in
# processing (its rendering or recording raised), apart from a channel's answers
# (`attempts`); and a polled record that failed in processing is kept here, with its
# tries and error, until it succeeds or is set aside as dead. Inbox rows already count
# their `tries`; a dead one has status 'dead'.
_SCHEMA_V6 = """
ALTER TABLE outbox ADD COLUMN faults INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS record_faults (
    source TEXT NOT NULL, key TEXT NOT NULL, tries INTEGER NOT NULL,
    status TEXT NOT NULL, next_at REAL NOT NULL, failed_at REAL NOT NULL, last_error TEXT,
    PRIMARY KEY (source, key)
) WITHOUT ROWID
"""

# The pushed webhooks already received (contract section 10), one row per verified
# body (endpoint kind, and a key of its attempt, state and hash): a replay finds its
# key here and is answered 200 without being stored again. A table of its own, so
# the inbox's own columns are free to change beside it.
_SCHEMA_V5 = """
CREATE TABLE IF NOT EXISTS inbox_received (
    kind TEXT NOT NULL, key TEXT NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_received_age ON inbox_received (received_at)
"""

# History (contract section 11): each event compactly, one B-tree ordered for the one
# question asked of it (a student's events of one kind, oldest first); and each
# student's latest activity, for the daily inactivity check.
_SCHEMA_V4 = """
CREATE TABLE IF NOT EXISTS history (
    kind TEXT NOT NULL, subject TEXT NOT NULL, at REAL NOT NULL, key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, subject, at, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity (
    user_id TEXT PRIMARY KEY, email TEXT, at REAL NOT NULL, kind TEXT NOT NULL,
    title TEXT, student TEXT
);
CREATE INDEX IF NOT EXISTS activity_email ON activity (email)
"""

# The inbox of Testpress's webhooks (contract section 10): a payload is written here,
# committed, and only then answered 200; the run loop processes `pending` rows and
# marks them `done`. Plain types and one index, so any SQL database holds it as is.
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,
    received_at REAL NOT NULL, status TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, done_at REAL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (status, next_at)
"""

_SCHEMA_V2 = """
ALTER TABLE outbox ADD COLUMN group_key TEXT;
CREATE INDEX IF NOT EXISTS outbox_group ON outbox (rule, channel, group_key, status)
"""

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, key TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, channel TEXT NOT NULL,
    event TEXT NOT NULL, event_key TEXT NOT NULL, alerts TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    sent_at REAL, last_error TEXT, claimed_until REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
CREATE TABLE IF NOT EXISTS source_status (
    source TEXT PRIMARY KEY, last_success TEXT, last_error TEXT, last_attempt TEXT
);
CREATE TABLE IF NOT EXISTS state (
    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID
"""

# (version, script): applied in order to bring any older store up to SCHEMA_VERSION.
_MIGRATIONS = (
    (1, _SCHEMA_V1),
    (2, _SCHEMA_V2),
    (3, _SCHEMA_V3),
    (4, _SCHEMA_V4),
    (5, _SCHEMA_V5),
    (6, _SCHEMA_V6),
    (7, _SCHEMA_V7),
    (8, _SCHEMA_V8),
    (9, _SCHEMA_V9),
    (10, _SCHEMA_V10),
    (11, _SCHEMA_V11),
    (12, _SCHEMA_V12),
    (13, _SCHEMA_V13),
    (14, _SCHEMA_V14),
)

__all__ = [
    "COMPACT_SINCE",
    "SCHEMA_VERSION",
    "_MIGRATIONS",
    "_SCHEMA_V1",
    "_SCHEMA_V14",
    "_SCHEMA_V2",
    "_SCHEMA_V3",
    "_SCHEMA_V4",
    "_SCHEMA_V5",
    "_SCHEMA_V6",
    "_SCHEMA_V7",
    "_SCHEMA_V8",
    "_SCHEMA_V9",
    "_SCHEMA_V10",
    "_SCHEMA_V11",
    "_SCHEMA_V12",
    "_SCHEMA_V13",
]
