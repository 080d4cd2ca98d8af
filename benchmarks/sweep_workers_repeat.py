"""Repeat the two-workers-started-together check N times: how often do both finish exactly n_trials?

    python benchmarks/sweep_workers_repeat.py [--repeats 10] [--test NODEID] [--keep DIR]

Each repeat is a fresh pytest process running one test of tests/test_sweep_workers.py (default: two workers
started in the same second from one folder on a new PostgreSQL study, 4 trials, one MLflow server): a new
PostgreSQL cluster, database, MLflow server and launch folder each time. Prints one line per repeat (passed or
not, wall seconds) and the tally; a failed run's pytest output and folders (worker logs) stay in DIR.
Kept out of the test suite: CI runs the test once; this measures the rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "tests/test_sweep_workers.py::test_two_workers_started_together_in_one_folder_on_a_new_study"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--test", default=DEFAULT)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "sweep_workers_repeat")
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    passed, times = 0, []
    for i in range(1, args.repeats + 1):
        start = time.monotonic()
        basetemp = args.keep / f"run{i:02d}"  # its own folder: pytest's numbered ones are pruned by other runs
        command = [sys.executable, "-m", "pytest", args.test, "-m", "slow or not slow", "-x", "-q"]
        result = subprocess.run(
            [*command, "-p", "no:cacheprovider", f"--basetemp={basetemp}"],
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
        tail = ""
        if not ok:
            (args.keep / f"run{i:02d}.log").write_text(result.stdout + result.stderr)
            tail = f" | see {args.keep / f'run{i:02d}.log'} and {basetemp}"
        else:
            subprocess.run(["rm", "-rf", str(basetemp)], check=False)
        print(f"run {i:2d}: {'passed' if ok else 'FAILED'} in {seconds:.0f} s{tail}", flush=True)
    print(f"{passed} of {args.repeats} passed; wall {min(times):.0f}-{max(times):.0f} s per run", flush=True)
    return 0 if passed == args.repeats else 1


if __name__ == "__main__":
    sys.exit(main())
