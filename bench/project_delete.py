#!/usr/bin/env python3
"""Project deletion (issue #7, retention side): how long deleting a project
with many events holds SQLite's one writer, as one transaction (what
`delete_project` did) and as batches of 2,000 rows, each its own
transaction (what it does now).

    LOOKOUT_BIN=target/release/lookout bench/project_delete.py [--events 500000]

The schema comes from the real binary (`lookout project create`); events
(900-byte payloads, 200 issues) are inserted here with Python's sqlite3,
and the two deletions run with the statements Lookout uses. The one
transaction is rolled back, so the batches delete the same rows.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

BATCH = 2000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    args = ap.parse_args()
    binary = os.environ.get("LOOKOUT_BIN", "target/release/lookout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([binary, "project", "create", "--name", "shop", "--data-dir", str(data)],
                       check=True, capture_output=True, env=env)
        db = data / "lookout.db"
        c = sqlite3.connect(db, isolation_level=None)
        c.execute("PRAGMA foreign_keys = ON")
        now = int(time.time() * 1000)
        c.execute("BEGIN")
        for i in range(200):
            c.execute(
                "INSERT INTO issues (id, project_id, grouping_hash, grouping_version, title, culprit, level,"
                " platform, status, first_seen, last_seen) VALUES (?, 1, ?, 1, ?, '', 'error', 'python',"
                " 'unresolved', ?, ?)",
                (i + 1, f"fp{i}", f"issue {i}", now, now),
            )
        payload = os.urandom(900)
        c.executemany(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp, received_at, level, title, payload)"
            " VALUES (1, ?, ?, ?, ?, 'error', 'KeyError', ?)",
            ((i % 200 + 1, os.urandom(16), now, now + i, payload) for i in range(args.events)),
        )
        c.execute("COMMIT")
        print(f"{args.events:,} events, database {os.path.getsize(db) / 1e6:.0f} MB")
        c.execute("BEGIN")
        t = time.perf_counter()
        c.execute("DELETE FROM events WHERE project_id = 1")
        c.execute("DELETE FROM projects WHERE id = 1")
        one = time.perf_counter() - t
        c.execute("ROLLBACK")
        print(f"one transaction: {one:.2f} s holding the writer")
        t, times = time.perf_counter(), []
        while True:
            t1 = time.perf_counter()
            c.execute("BEGIN")
            n = c.execute(
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE project_id = 1 LIMIT ?)",
                (BATCH,),
            ).rowcount
            c.execute("COMMIT")
            times.append((time.perf_counter() - t1) * 1000)
            if n < BATCH:
                break
        c.execute("DELETE FROM projects WHERE id = 1")
        times.sort()
        print(f"batches of {BATCH}: {len(times)} writes, {time.perf_counter() - t:.2f} s in all; "
              f"each holds the writer for median {statistics.median(times):.0f} ms, "
              f"p99 {times[int(len(times) * 0.99)]:.0f} ms, max {times[-1]:.0f} ms")


if __name__ == "__main__":
    main()
