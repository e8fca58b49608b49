"""How fast `akhbar run` gives up on a rejected token, and how long `akhbar doctor` takes.

Each run is a fresh process (`python -m bot ...`) against the fake Bot API in its own process
on 127.0.0.1: wall seconds and the child's CPU seconds (user + system), p50 and max over
``--runs``. The issue's target: a rejected token exits (code 2) within 5 s. Run from the
repository root::

    .venv/bin/python benchmarks/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import REPO_ROOT, bot_env
from tests.fakebotapi import spawn


def timed(env: dict[str, str], *args: str) -> tuple[float, float, int]:
    """Run `python -m bot ARGS`: (wall s, CPU s, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=REPO_ROOT, capture_output=True
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def summary(name: str, samples: list[tuple[float, float, int]]) -> str:
    """One line: p50 and max of wall and CPU seconds, and the exit codes seen."""
    walls = [s[0] for s in samples]
    cpus = [s[1] for s in samples]
    codes = sorted({s[2] for s in samples})
    return (
        f"{name}: wall p50 {statistics.median(walls):.2f} s max {max(walls):.2f} s; "
        f"CPU p50 {statistics.median(cpus):.2f} s max {max(cpus):.2f} s; exit codes {codes}"
    )


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder, spawn("--token", "999:the-right-one") as api:
        db_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        env = bot_env(api.base_url, db_url)
        rejected = [timed(env, "run") for _ in range(args.runs)]
        print(summary("akhbar run, rejected token", rejected))
        timed(env, "db", "upgrade")
        doctor_env = {**env, "TELEGRAM_BOT_TOKEN": "999:the-right-one"}
        doctor = [timed(doctor_env, "doctor") for _ in range(args.runs)]
        print(summary("akhbar doctor, healthy SQLite setup, no sources", doctor))


if __name__ == "__main__":
    main()
