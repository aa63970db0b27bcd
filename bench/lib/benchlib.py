"""Shared helpers for the Lookout benchmarks (standard library only, Python >= 3.9).

Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import datetime as _dt
import http.client
import json
import math
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import threading
import time

BENCH = pathlib.Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
OUT = BENCH / "out"


# ----------------------------------------------------------------------------------------------
# statistics


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100)."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = max(1, math.ceil(p / 100 * len(xs)))
    return xs[min(k, len(xs)) - 1]


# ----------------------------------------------------------------------------------------------
# machine


def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def machine_info() -> dict:
    model = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
    mem_total = ""
    for line in _run(["free", "-h"]).splitlines():
        if line.startswith("Mem:"):
            mem_total = line.split()[1]
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": _run(["nproc"]),
        "cpu_model": model,
        "kernel": platform.release(),
        "mem_total": mem_total,
        "loadavg": pathlib.Path("/proc/loadavg").read_text().split()[:3],
        "wrk": _run(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else None,
        "lookout_bin": str(lookout_bin()),
        "lookout_bin_source": os.environ.get("LOOKOUT_BIN_SOURCE", ""),
        "lookout_bin_mtime": (_dt.datetime.fromtimestamp(lookout_bin().stat().st_mtime, _dt.timezone.utc)
                              .strftime("%Y-%m-%d %H:%M:%S UTC") if lookout_bin().exists() else None),
        "git_head": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])),
    }


def print_machine(info: dict) -> None:
    print(f"date:    {info['date_utc']}")
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, kernel {info['kernel']}, RAM {info['mem_total']}")
    print(f"load:    {' '.join(info['loadavg'])} (1/5/15 min) at start; git {info['git_head']}"
          f"{' (dirty work tree)' if info['git_dirty'] else ''}")
    if info.get("lookout_bin_source"):
        print(f"lookout: {info['lookout_bin']} built {info['lookout_bin_mtime']} from {info['lookout_bin_source']}")


# ----------------------------------------------------------------------------------------------
# processes and memory


def proc_status_kb(pid: int, field: str = "VmRSS"):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def proc_pss_kb(pid: int):
    try:
        for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def descendants(roots) -> list[int]:
    """roots plus all their live descendants."""
    children: dict[int, list[int]] = {}
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p in out or not pathlib.Path(f"/proc/{p}").exists():
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    f = [int(x) for x in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return total - idle, total


def procs_running():
    for line in pathlib.Path("/proc/stat").read_text().splitlines():
        if line.startswith("procs_running"):
            return int(line.split()[1])
    return None


def all_process_cpu() -> dict[int, tuple[float, int]]:
    """pid -> (utime + stime seconds, ppid) for every process on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        f = stat[stat.rfind(")") + 2:].split()
        out[int(d.name)] = ((int(f[11]) + int(f[12])) / tick, int(f[1]))
    return out


def foreign_cpu_pct(window=2.0) -> float:
    """CPU used over `window` s by processes that are not this driver or its children, in % of a core."""
    me = os.getpid()
    ours = set(descendants([me]))
    a = all_process_cpu()
    time.sleep(window)
    b = all_process_cpu()
    return 100 * sum(cpu - a.get(pid, (0.0, 0))[0] for pid, (cpu, _) in b.items() if pid not in ours
                     and cpu > a.get(pid, (0.0, 0))[0]) / window


def wait_quiet(threshold_pct=25.0, quiet_s=10.0, max_wait_s=600.0, say=print) -> dict:
    """Wait (bounded) until other processes use < threshold_pct of a core for quiet_s seconds in a row.
    A shared 2-core machine: other people's builds and tests skew a benchmark badly."""
    t0 = time.monotonic()
    quiet_since, last = None, None
    warned = False
    while time.monotonic() - t0 < max_wait_s:
        last = foreign_cpu_pct(2.0)
        now = time.monotonic()
        if last < threshold_pct:
            quiet_since = quiet_since or now - 2.0
            if now - quiet_since >= quiet_s:
                return {"waited_s": round(now - t0, 1), "quiet": True, "last_foreign_pct": round(last, 1)}
        else:
            quiet_since = None
            if not warned:
                say(f"waiting for the machine to quieten (other processes use {last:.0f}% of a core; "
                    f"at most {max_wait_s:.0f} s)")
                warned = True
    return {"waited_s": round(time.monotonic() - t0, 1), "quiet": False, "last_foreign_pct": round(last or 0, 1)}


def cpu_seconds(roots) -> float:
    """utime + stime of a process tree, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(roots):
        try:
            stat = pathlib.Path(f"/proc/{p}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        f = stat[stat.rfind(")") + 2:].split()
        total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    return total / tick


class MemSampler:
    """Samples the summed VmRSS and Pss of a process tree every `interval` seconds in a thread."""

    def __init__(self, roots, interval=0.5, max_seconds=3600, files=()):
        self.roots = list(roots)
        self.files = [pathlib.Path(f) for f in files]  # sizes recorded in the timeline (e.g. db, wal)
        self.interval = interval
        self.max_seconds = max_seconds
        self.samples: list[tuple[float, int, int, int]] = []  # (t, rss_kb, pss_kb, nprocs)
        self.timeline: list[dict] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        t0 = time.monotonic()
        me = os.getpid()
        prev_sys, prev_cpu, prev_t = system_cpu(), all_process_cpu(), t0
        while not self._stop.is_set() and time.monotonic() - t0 < self.max_seconds:
            pids = descendants(self.roots)
            rss = sum(proc_status_kb(p) or 0 for p in pids)
            pss = sum(proc_pss_kb(p) or 0 for p in pids)
            now, sys_now, cpu_now = time.monotonic(), system_cpu(), all_process_cpu()
            busy, total = sys_now[0] - prev_sys[0], sys_now[1] - prev_sys[1]
            # CPU per interval, split into: the server's process tree, this driver and its children
            # (wrk, loadgen), and everything else on the machine ("foreign": other users' builds/tests).
            ours = set(descendants([me]))
            server = set(pids)
            split = {"server": 0.0, "client": 0.0, "foreign": 0.0}
            for pid, (cpu, _) in cpu_now.items():
                d = cpu - prev_cpu.get(pid, (0.0, 0))[0]
                if d <= 0:
                    continue
                split["server" if pid in server else "client" if pid in ours else "foreign"] += d
            dt = now - prev_t
            if dt < 0.2:  # too short for jiffy-based CPU figures (the first sample)
                split = {"server": None, "client": None, "foreign": None}
                dt = 1.0
            self.timeline.append({
                "t": round(now - t0, 2), "rss_mb": round(rss / 1024, 1), "pss_mb": round(pss / 1024, 1),
                "procs": len(pids),
                "machine_busy_pct": round(100 * busy / total, 1) if total else None,   # of all cores
                # in % of one core:
                **{f"{k}_cpu_pct": (round(100 * v / dt, 1) if v is not None else None) for k, v in split.items()},
                "procs_running": procs_running(),
                **{f.name: (f.stat().st_size if f.exists() else None) for f in self.files},
            })
            self.samples.append((now - t0, rss, pss, len(pids)))
            prev_sys, prev_cpu, prev_t = sys_now, cpu_now, now
            self._stop.wait(self.interval)

    def max_foreign_cpu_pct(self):
        return max((s["foreign_cpu_pct"] for s in self.timeline if s["foreign_cpu_pct"] is not None), default=0.0)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=5)

    def max_rss_mb(self):
        return max((s[1] for s in self.samples), default=0) / 1024

    def max_pss_mb(self):
        return max((s[2] for s in self.samples), default=0) / 1024


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout=30.0) -> float | None:
    """Send `sig` to the process group, wait up to `timeout` s (then SIGKILL). Returns seconds to exit."""
    if proc.poll() is not None:
        return 0.0
    t0 = time.monotonic()
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return 0.0
    try:
        proc.wait(timeout=timeout)
        return time.monotonic() - t0
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return None


# ----------------------------------------------------------------------------------------------
# HTTP (loopback only)


def http_get(port: int, path: str, headers=None, timeout=5.0):
    """Returns (status, body bytes); raises OSError when nothing listens."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


# ----------------------------------------------------------------------------------------------
# Lookout


def lookout_bin() -> pathlib.Path:
    return pathlib.Path(os.environ.get("LOOKOUT_BIN", ROOT / "target/release/lookout"))


def clean_env() -> dict:
    """The environment without LOOKOUT_* overrides (so the defaults are what gets measured)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}


LISTEN_RE = re.compile(rb"Lookout listening on http://127\.0\.0\.1:(\d+)")


class LookoutServer:
    """`lookout serve --listen 127.0.0.1:0 --data-dir DIR`, started in its own process group."""

    def __init__(self, data_dir: pathlib.Path, log_dir: pathlib.Path, binary=None, extra_env=None):
        self.extra_env = dict(extra_env or {})
        self.data_dir = pathlib.Path(data_dir)
        self.log_dir = pathlib.Path(log_dir)
        self.binary = pathlib.Path(binary or lookout_bin())
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.t_spawn: float | None = None
        self.t_listen_line: float | None = None
        self._port_ready = threading.Event()

    def _drain_stdout(self):
        with open(self.log_dir / "stdout.log", "ab") as log:
            for line in self.proc.stdout:
                log.write(line)
                if self.port is None:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.t_listen_line = time.perf_counter()
                        self.port = int(m.group(1))
                        self._port_ready.set()

    def start(self):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stderr = open(self.log_dir / "stderr.log", "ab")
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=stderr, cwd=str(self.log_dir), env={**clean_env(), **self.extra_env},
            start_new_session=True)
        stderr.close()
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        return self

    def wait_ready(self, timeout=30.0, sleep=0.001) -> float:
        """Poll GET /ready until 200; returns seconds from spawn. Raises on timeout or exit."""
        deadline = time.perf_counter() + timeout
        while not self._port_ready.wait(0.001):
            if self.proc.poll() is not None:
                raise RuntimeError(f"lookout exited with {self.proc.returncode}; see {self.log_dir}/stderr.log")
            if time.perf_counter() > deadline:
                raise TimeoutError("no 'Lookout listening on' line")
        while True:
            try:
                status, _ = http_get(self.port, "/ready", timeout=1.0)
                if status == 200:
                    return time.perf_counter() - self.t_spawn
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"lookout exited with {self.proc.returncode}")
            if time.perf_counter() > deadline:
                raise TimeoutError("/ready never answered 200")
            time.sleep(sleep)

    def cli_json(self, *args) -> dict:
        out = subprocess.run([str(self.binary), *args, "--json", "--data-dir", str(self.data_dir)],
                             capture_output=True, text=True, timeout=60, cwd=str(self.log_dir), env=clean_env())
        if out.returncode != 0:
            raise RuntimeError(f"lookout {' '.join(args)} failed: {out.stderr.strip()}")
        return json.loads(out.stdout)

    def stop(self, timeout=30.0):
        return stop_process(self.proc, signal.SIGTERM, timeout) if self.proc else None


def dir_size(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def save_json(name: str, data: dict) -> pathlib.Path:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    p = OUT / f"{name}-{stamp}.json"
    p.write_text(json.dumps(data, indent=2, default=str))
    return p
