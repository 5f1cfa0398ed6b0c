"""The SQL of the SQLite store: its schema, the migration of older files, the statements.

One table holds the sessions and their leases (see ``dialogue.stores.sqlite``).
A row of version 0 is a lease's placeholder: the session is not stored (yet).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from dialogue.errors import ConfigurationError

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of the files this module writes."""

SCHEMA = (
    "CREATE TABLE sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "data TEXT NOT NULL, expires_at REAL, updated_at REAL NOT NULL, "
    "lease TEXT, lease_expires REAL)",
    "CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
MIGRATE_1 = (
    "ALTER TABLE sessions ADD COLUMN lease TEXT",
    "ALTER TABLE sessions ADD COLUMN lease_expires REAL",
    "DROP TABLE leases",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
LIVE = "version > 0 AND (expires_at IS NULL OR expires_at > ?)"
"""A stored session (not a lease's placeholder, version 0), not expired."""
FREE = "(lease_expires IS NULL OR lease_expires <= ?{n})"

LOAD = f"SELECT version, data FROM sessions WHERE id = ? AND {LIVE}"
CLAIM = (
    # ?1 id, ?2 token, ?3 the lease's end, ?4 now. A placeholder (version 0) expires with
    # its lease, so that sweep() deletes it if its holder never comes back.
    "INSERT INTO sessions (id, version, data, expires_at, updated_at, lease, lease_expires) "
    "VALUES (?1, 0, '', ?3, ?4, ?2, ?3) ON CONFLICT (id) DO UPDATE SET lease = ?2, "
    "lease_expires = ?3, expires_at = CASE WHEN version = 0 THEN ?3 ELSE expires_at END "
    f"WHERE {FREE.format(n=4)}"
)
CLAIM_LOAD = CLAIM + " RETURNING version, data, expires_at"
UPDATE = (
    # ?1 the version loaded, ?2 data, ?3 expires_at, ?4 now, ?5 id [, ?6 the lease's token]
    "UPDATE sessions SET version = ?1 + 1, data = ?2, expires_at = ?3, updated_at = ?4{release} "
    "WHERE id = ?5 AND version = ?1 AND (expires_at IS NULL OR expires_at > ?4)"
)
INSERT = (
    # the same for version 0: a new session, over a placeholder or an expired one
    "INSERT INTO sessions (id, version, data, expires_at, updated_at) VALUES (?5, 1, ?2, ?3, ?4) "
    "ON CONFLICT (id) DO UPDATE SET version = 1, data = ?2, expires_at = ?3, "
    "updated_at = ?4{release} WHERE version = 0 OR expires_at <= ?4"
)
RELEASE = (
    ", lease = CASE WHEN lease = ?6 THEN NULL ELSE lease END, "
    "lease_expires = CASE WHEN lease = ?6 THEN NULL ELSE lease_expires END"
)
SAVE = (UPDATE.format(release=""), INSERT.format(release=""))
SAVE_RELEASE = (UPDATE.format(release=RELEASE), INSERT.format(release=RELEASE))

TOKENS = (
    # the user budget's counts (``TokenStore``): made when first used, so files stay
    # readable by versions that do not know it (the schema version stays the same)
    "CREATE TABLE IF NOT EXISTS tokens "
    "(key TEXT PRIMARY KEY, used INTEGER NOT NULL, expires_at REAL NOT NULL)"
)
COUNT = "SELECT used FROM tokens WHERE key = ? AND expires_at > ?"
SET_COUNT = (
    "INSERT INTO tokens (key, used, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) "
    "DO UPDATE SET used = excluded.used, expires_at = excluded.expires_at"
)
SWEEP_COUNTS = "DELETE FROM tokens WHERE expires_at <= ?"


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, taking the write lock at once (no upgrade deadlocks)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """WAL mode, and the tables when the file is new; refuse a newer schema."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # per connection
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    with write(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version in (0, 1):
            for statement in MIGRATE_1 if version else SCHEMA:
                conn.execute(statement)
        elif version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"SQLite store {str(path)!r} has schema version {version}; "
                f"this version of dialogue reads version {SCHEMA_VERSION}",
                hint="upgrade dialogue, or use another file",
            )


def sweep(conn: sqlite3.Connection, now: float) -> int:
    """Delete expired sessions and placeholders, unless leased; returns the sessions gone."""
    expired = f"DELETE FROM sessions WHERE expires_at <= ?1 AND {FREE.format(n=1)} AND version"
    gone = conn.execute(expired + " > 0", (now,)).rowcount
    conn.execute(expired + " = 0", (now,))
    return int(gone)
