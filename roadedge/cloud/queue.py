"""Bounded on-disk store-and-forward queue of uplink messages (SQLite, WAL).

Every uplink message is written here first and deleted only when the broker acknowledged it
(PUBACK), so nothing is lost across a broker outage, a broker restart or a bridge restart.
``seq`` is an AUTOINCREMENT key: strictly increasing per queue file and never reused, so
``(device, epoch, seq)`` names a message uniquely; the cloud deduplicates on it and sees a gap
where the queue had to drop. ``epoch`` is random per queue file (a replaced disk starts a new one).

Bounded: at ``capacity`` messages a put first drops the oldest *droppable* message (periodic
state and diagnostics, superseded by newer ones), and only if there is none the oldest message
of any stream. Drops are counted per stream. Durability: WAL with ``synchronous=NORMAL`` survives
a crash or kill of the bridge; after a power loss the last few commits may be lost (set
``synchronous_full`` for FULL at roughly one fsync per message).

The table ``commands`` remembers accepted downlink command ids until they expire (replay guard).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    stamp REAL NOT NULL,
    droppable INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox (droppable, seq);
CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    seq: int
    stream: str
    stamp: float
    data: str  # JSON text of the stream's data object


class StoreAndForwardQueue:
    def __init__(self, path: str | Path, capacity: int = 100_000, synchronous_full: bool = False) -> None:
        if capacity < 1:
            raise ValueError("queue capacity must be >= 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        # exclusive: one bridge owns its queue (a second opener fails instead of interleaving);
        # it also keeps the WAL index in memory (no -shm file: one descriptor less per link)
        self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous_full else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
        if row is None:
            self.epoch = os.urandom(4).hex()
            self._db.execute("INSERT INTO meta VALUES ('epoch', ?)", (self.epoch,))
        else:
            self.epoch = str(row[0])
        self._size = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self.dropped: Counter[str] = Counter()

    def __len__(self) -> int:
        return self._size

    @property
    def fill(self) -> float:
        return self._size / self.capacity

    def put(self, stream: str, stamp: float, data: str, droppable: bool) -> int:
        """Append a message; returns its seq. Drops the oldest droppable one when full."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                while self._size >= self.capacity:
                    victim = self._db.execute(
                        "SELECT seq, stream FROM outbox WHERE droppable=1 ORDER BY seq LIMIT 1"
                    ).fetchone()
                    if victim is None:
                        victim = self._db.execute(
                            "SELECT seq, stream FROM outbox ORDER BY seq LIMIT 1"
                        ).fetchone()
                    self._db.execute("DELETE FROM outbox WHERE seq=?", (victim[0],))
                    self._size -= 1
                    self.dropped[str(victim[1])] += 1
                cur = self._db.execute(
                    "INSERT INTO outbox (stream, stamp, droppable, data) VALUES (?, ?, ?, ?)",
                    (stream, stamp, int(droppable), data),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._size += 1
            assert cur.lastrowid is not None
            return int(cur.lastrowid)

    def peek(self, after_seq: int, limit: int) -> list[Entry]:
        """Up to ``limit`` messages with seq > ``after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, stream, stamp, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Entry(int(r[0]), str(r[1]), float(r[2]), str(r[3])) for r in rows]

    def ack(self, seq: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
            self._size -= cur.rowcount

    def ack_ranges(self, ranges: list[tuple[int, int]]) -> int:
        """The cloud holds the messages in these inclusive seq ranges: forget them; returns how many."""
        removed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for lo, hi in ranges:
                removed += self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (lo, hi)).rowcount
            self._db.execute("COMMIT")
            self._size -= removed
        return removed

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # replay guard of downlink command ids
    def seen(self, command_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM commands WHERE command_id=?", (command_id,)).fetchone()
            return row is not None

    def remember(self, command_id: str, expires_at: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO commands VALUES (?, ?)", (command_id, expires_at))

    def forget_expired(self, now: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM commands WHERE expires_at < ?", (now,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
