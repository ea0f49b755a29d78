"""A tenant's claim: which node holds its data, since which takeover.

Kept in the tenant's data folder as ``.mux/home.sqlite3`` (out of reach of
tenant code), written only by the replication agent, and replicated like
the tenant's databases, so the replica always says who wrote last:

* ``claim``: one row, ``(epoch, node)``. Each node that takes the tenant
  over writes the replica's epoch + 1 and its own name, and waits until the
  replica has it before the tenant's code runs.
* ``databases``: the tenant's databases (paths in ``/data``), so a node
  that takes the tenant over knows what to restore.

A node whose local claim equals the replica's holds the latest lineage of
the data (it wrote it last; Litestream ships what it wrote since). Any
other local copy is older than the replica and is replaced by a restore.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

#: Where the claim lives, relative to the tenant's data folder.
HOME_DB = os.path.join(".mux", "home.sqlite3")


@dataclass(frozen=True)
class Claim:
    epoch: int
    node: str
    databases: frozenset

    def same_holder(self, other: "Claim | None") -> bool:
        return other is not None and (self.epoch, self.node) == (other.epoch, other.node)


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "epoch INTEGER NOT NULL, node TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS databases (path TEXT PRIMARY KEY)")
    return db


def read_claim(path: str) -> Claim | None:
    """The claim in the home database at ``path``, or None."""
    if not os.path.exists(path):
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT epoch, node FROM claim WHERE id = 1").fetchone()
        names = frozenset(r[0] for r in db.execute("SELECT path FROM databases"))
    except sqlite3.OperationalError:
        return None  # not a claim database (yet)
    finally:
        db.close()
    return Claim(row[0], row[1], names) if row else None


def write_claim(path: str, epoch: int, node: str, databases=()) -> None:
    """Record that ``node`` holds the tenant since takeover ``epoch``."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    db = _connect(path)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO claim (id, epoch, node, at) VALUES (1, ?, ?, ?) ON CONFLICT(id) "
                   "DO UPDATE SET epoch = excluded.epoch, node = excluded.node, at = excluded.at",
                   (epoch, node, time.time()))
        db.executemany("INSERT OR IGNORE INTO databases (path) VALUES (?)",
                       [(d,) for d in databases])
        db.execute("COMMIT")
    finally:
        db.close()


def add_database(path: str, relative: str) -> bool:
    """List ``relative`` among the tenant's databases; True if it is new."""
    db = _connect(path)
    try:
        return db.execute("INSERT OR IGNORE INTO databases (path) VALUES (?)",
                          (relative,)).rowcount > 0
    finally:
        db.close()
