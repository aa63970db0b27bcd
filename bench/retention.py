#!/usr/bin/env python3
"""Retention batch cost (issue #7): how long one retention batch (delete the
2,000 oldest expired rows of a project) holds SQLite's writer on a large
`logs` table, at schema 9 (no index leading with received_at) and at
schema 10 (migration 0010_retention_indexes), in the same run.

    LOOKOUT_BIN=target/release/lookout bench/retention.py [--rows 1000000] [--runs 5]

The schema comes from the real binary (`lookout migrate up --to N`); the
rows are inserted here with Python's sqlite3 (the table as Lookout defines
it); each run deletes one batch with the statement Lookout's retention
runs, in a transaction that is rolled back, so every run sees the same
table. Prints the median and every run, in milliseconds.
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
LATEST = 10
DAY_MS = 86_400_000


def make_db(binary: str, version: int, rows: int, workdir: Path) -> Path:
    data = workdir / f"v{version}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    subprocess.run([binary, "project", "create", "--name", "shop", "--data-dir", str(data)],
                   check=True, capture_output=True, env=env)
    if version < LATEST:
        subprocess.run([binary, "migrate", "down", "--to", str(version), "--data-dir", str(data)],
                       check=True, capture_output=True, env=env)
    db = data / "lookout.db"
    c = sqlite3.connect(db)
    now = int(time.time() * 1000)
    # 40 days of logs, oldest first; retention keeps 14 days, so the
    # oldest 65 % are expired.
    step = 40 * DAY_MS // rows
    start = now - 40 * DAY_MS
    c.execute("BEGIN")
    c.executemany(
        "INSERT INTO logs (project_id, timestamp, level, body, received_at) VALUES (1, ?, 'info', ?, ?)",
        ((start + i * step, f"request {i} handled in 12 ms", start + i * step) for i in range(rows)),
    )
    c.execute("COMMIT")
    c.close()
    return db


def batch_ms(db: Path, runs: int) -> list[float]:
    cutoff = int(time.time() * 1000) - 14 * DAY_MS
    c = sqlite3.connect(db, isolation_level=None)
    out = []
    for _ in range(runs):
        c.execute("BEGIN IMMEDIATE")
        t0 = time.perf_counter()
        n = c.execute(
            "DELETE FROM logs WHERE rowid IN (SELECT rowid FROM logs"
            " WHERE project_id = ?1 AND received_at < ?2 ORDER BY received_at LIMIT ?3)",
            (1, cutoff, BATCH),
        ).rowcount
        out.append((time.perf_counter() - t0) * 1000)
        c.execute("ROLLBACK")
        assert n == BATCH, n
    c.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    binary = os.environ.get("LOOKOUT_BIN", "target/release/lookout")
    with tempfile.TemporaryDirectory() as tmp:
        for version in (LATEST - 1, LATEST):
            db = make_db(binary, version, args.rows, Path(tmp))
            runs = batch_ms(db, args.runs)
            runs_txt = ", ".join(f"{r:.1f}" for r in runs)
            print(f"schema {version}: {args.rows:,} log rows, one batch of {BATCH}: "
                  f"median {statistics.median(runs):.1f} ms (runs: {runs_txt})")


if __name__ == "__main__":
    main()
