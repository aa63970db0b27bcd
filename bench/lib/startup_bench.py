"""Foundation figures: time to ready, idle RSS, binary size. Run through bench/startup.sh."""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import pathlib

import benchlib as B


def one_run(i: int, idle_s: float, base: pathlib.Path) -> dict:
    run_dir = base / f"run-{i:02d}"
    srv = B.LookoutServer(run_dir / "data", run_dir).start()
    try:
        ready_s = srv.wait_ready(timeout=30)
        listen_s = srv.t_listen_line - srv.t_spawn if srv.t_listen_line else None
        rss_ready = B.proc_status_kb(srv.proc.pid)
        time.sleep(idle_s)
        rss_idle = B.proc_status_kb(srv.proc.pid)
        pss_idle = B.proc_pss_kb(srv.proc.pid)
        threads = B.proc_status_kb(srv.proc.pid, "Threads")
        for _ in range(5):
            B.http_get(srv.port, "/health")
            B.http_get(srv.port, "/metrics")
            B.http_get(srv.port, "/ready")
        time.sleep(0.5)
        rss_probed = B.proc_status_kb(srv.proc.pid)
    finally:
        stop_s = srv.stop(timeout=30)
    return {
        "ready_ms": ready_s * 1000,
        "listen_line_ms": listen_s * 1000 if listen_s is not None else None,
        "rss_at_ready_mb": rss_ready / 1024,
        "rss_idle_mb": rss_idle / 1024,
        "pss_idle_mb": (pss_idle or 0) / 1024,
        "rss_after_probes_mb": rss_probed / 1024,
        "threads": threads,
        "sigterm_exit_ms": stop_s * 1000 if stop_s is not None else None,
        "exit_code": srv.proc.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading VmRSS")
    a = ap.parse_args()
    a.runs = max(1, min(a.runs, 101))
    a.idle = max(0.0, min(a.idle, 60.0))

    info = B.machine_info()
    B.print_machine(info)
    binary = B.lookout_bin()
    size = binary.stat().st_size
    print(f"binary:  {binary} ({size} bytes = {size / 1e6:.2f} MB = {size / 2**20:.2f} MiB)")
    print(f"runs:    {a.runs} x (spawn on an empty data dir -> GET /ready 200, {a.idle:g} s idle, "
          f"5x /health+/metrics+/ready, SIGTERM)")

    B.WORK.mkdir(parents=True, exist_ok=True)
    base = pathlib.Path(tempfile.mkdtemp(prefix="startup-", dir=B.WORK))
    runs = []
    try:
        for i in range(a.runs):
            r = one_run(i, a.idle, base)
            runs.append(r)
            print(f"  run {i + 1:2d}: ready {r['ready_ms']:6.1f} ms (listen line {r['listen_line_ms']:6.1f} ms), "
                  f"RSS idle {r['rss_idle_mb']:5.1f} MB, after probes {r['rss_after_probes_mb']:5.1f} MB, "
                  f"PSS {r['pss_idle_mb']:5.1f} MB, {r['threads']} threads, "
                  f"SIGTERM->exit {r['sigterm_exit_ms'] or float('nan'):.0f} ms (code {r['exit_code']})")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    col = lambda k: [r[k] for r in runs]  # noqa: E731
    summary = {
        "ready_ms_median": B.median(col("ready_ms")),
        "ready_ms_p90": B.percentile(col("ready_ms"), 90),
        "ready_ms_min": min(col("ready_ms")),
        "ready_ms_max": max(col("ready_ms")),
        "rss_idle_mb_median": B.median(col("rss_idle_mb")),
        "rss_after_probes_mb_median": B.median(col("rss_after_probes_mb")),
        "pss_idle_mb_median": B.median(col("pss_idle_mb")),
        "sigterm_exit_ms_median": B.median(col("sigterm_exit_ms")),
        "binary_bytes": size,
        "binary_mb": size / 1e6,
    }
    print()
    print(f"ready time       median {summary['ready_ms_median']:.1f} ms, p90 {summary['ready_ms_p90']:.1f} ms "
          f"(min {summary['ready_ms_min']:.1f}, max {summary['ready_ms_max']:.1f}; target < 200 ms)")
    print(f"idle RSS         median {summary['rss_idle_mb_median']:.1f} MB after {a.idle:g} s idle, "
          f"{summary['rss_after_probes_mb_median']:.1f} MB after probes (target < 20 MB); "
          f"PSS {summary['pss_idle_mb_median']:.1f} MB")
    print(f"binary size      {summary['binary_mb']:.2f} MB ({size} bytes, stripped release)")
    print(f"SIGTERM -> exit  median {summary['sigterm_exit_ms_median']:.0f} ms")
    p = B.save_json("startup", {"machine": info, "args": vars(a), "binary": str(binary), "runs": runs,
                                "summary": summary})
    print(f"raw results: {p.relative_to(B.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
