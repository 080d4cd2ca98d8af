"""Repeat the two-workers-started-together check N times: how often do both finish exactly n_trials?

    python benchmarks/sweep_workers_repeat.py [--repeats 10] [--test NODEID]

Each repeat is a fresh pytest process running one test of tests/test_sweep_workers.py (default: two workers
started in the same second from one folder on a new PostgreSQL study, 4 trials, one MLflow server): a new
PostgreSQL cluster, database, MLflow server and launch folder each time. Prints one line per repeat (passed or
not, wall seconds) and the tally. Kept out of the test suite: CI runs the test once; this measures the rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "tests/test_sweep_workers.py::test_two_workers_started_together_in_one_folder_on_a_new_study"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--test", default=DEFAULT)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    passed, times = 0, []
    for i in range(1, args.repeats + 1):
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", args.test, "-m", "slow or not slow", "-x", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        seconds = time.monotonic() - start
        ok = result.returncode == 0
        passed += ok
        times.append(seconds)
        tail = "" if ok else " | " + " ".join(result.stdout.strip().splitlines()[-3:])[:600]
        print(f"run {i:2d}: {'passed' if ok else 'FAILED'} in {seconds:.0f} s{tail}", flush=True)
    print(f"{passed} of {args.repeats} passed; wall {min(times):.0f}-{max(times):.0f} s per run", flush=True)
    return 0 if passed == args.repeats else 1


if __name__ == "__main__":
    sys.exit(main())
