"""Measuring one path on a shared, noisy machine: wall time, CPU, foreign load, peak memory.

Every measured path runs as a child process. While it runs, a sampler thread adds up the
resident memory of the child's whole process tree (the platform and its dbt subprocess)
and keeps the peak. The machine's busy CPU time (psutil) minus the CPU time of our own
processes (this process, its reaped children, and the sshd serving the files) is the
*foreign* load: what other tenants took while we measured, as a share of all cores. Rounds
where it passes the threshold are discarded and re-run.
"""

import os
import resource
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05


@dataclass
class Measurement:
    path: str
    wall_seconds: float
    cpu_seconds: float  # CPU of our process tree (and sshd) during the measurement
    foreign_load: float  # share of all cores used by other processes (0..1)
    peak_rss_bytes: int  # peak summed RSS of the child's process tree
    round: int = 0
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def _busy_cpu_seconds() -> float:
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_cpu_seconds(extra_pids: tuple[int, ...]) -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for pid in extra_pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
        # Live session processes (a connection still open) are not reaped yet.
        try:
            for child in psutil.Process(pid).children(recursive=True):
                t = child.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


class _TreeMemory(threading.Thread):
    """Peak summed RSS of a process and all its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            self.peak = max(self.peak, total)
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak


class PathFailed(RuntimeError):
    """A measured path exited with an error; the message carries its output."""


def run_measured(
    path: str, command: list[str], env: dict[str, str], cwd: Path, extra_pids: tuple[int, ...] = (), log: Path | None = None
) -> Measurement:
    """Run `command` to completion and measure it. Raises PathFailed on a non-zero exit."""
    busy_before = _busy_cpu_seconds()
    own_before = _own_cpu_seconds(extra_pids)
    started = time.perf_counter()
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
        sampler = _TreeMemory(process.pid)
        sampler.start()
        code = process.wait()
        peak = sampler.stop()
    finally:
        if log:
            out.close()
    wall = time.perf_counter() - started
    own = _own_cpu_seconds(extra_pids) - own_before
    busy = _busy_cpu_seconds() - busy_before
    foreign = max(0.0, (busy - own) / (wall * (os.cpu_count() or 1))) if wall > 0 else 0.0
    if code != 0:
        tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
        raise PathFailed(f"{path}: {' '.join(command[:4])} … exited with {code}\n{tail}")
    return Measurement(path=path, wall_seconds=wall, cpu_seconds=own, foreign_load=min(foreign, 1.0), peak_rss_bytes=peak)


def summary(values: list[float]) -> dict:
    """min, median, max (and n) of a list of numbers; empty lists give None values."""
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares slope, intercept and R² of ys over xs."""
    n = len(xs)
    if n < 2:
        return {"slope": None, "intercept": None, "r2": None}
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}
