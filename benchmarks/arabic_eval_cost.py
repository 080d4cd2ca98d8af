"""Cost of the Arabic evaluation on the default run: `python -m arabic_pref.train` with it on and off.

    python benchmarks/arabic_eval_cost.py [--repeats 1] [ARGS...]

Runs the default job (tiny Qwen2, shipped pairs, 40 steps) back to back, evaluation off
(`eval_generations=false eval_drift=false`) then on (the defaults), each in a fresh process and folder, and
prints the wall times, their ratio, and the evaluation's own time as logged by the run (`eval/arabic_seconds`),
which is immune to load changes between the two processes. Extra ARGS are passed to both runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OFF = ["eval_generations=false", "eval_drift=false"]


def run(args: list[str]) -> tuple[float, dict[str, float]]:
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "arabic_pref.train", *args],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        client = MlflowClient(tracking_uri=f"sqlite:///{Path(folder) / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("arabic-pref")
        metrics = client.search_runs([experiment.experiment_id])[0].data.metrics
    return wall, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    known, extra = parser.parse_known_args()
    for i in range(known.repeats):
        off, _ = run(OFF + extra)
        on, metrics = run(extra)
        inside = metrics.get("eval/arabic_seconds", float("nan"))
        print(
            f"run {i + 1}: off {off:.1f} s, on {on:.1f} s, ratio {on / off:.3f}; "
            f"evaluation inside the run {inside:.1f} s = {inside / on:.1%} of it; "
            f"gen/arabic_share {metrics.get('gen/arabic_share', float('nan')):.3f}, "
            f"drift/kl_per_token {metrics.get('drift/kl_per_token', float('nan')):.4f}, "
            f"drift/ppl_ratio {metrics.get('drift/ppl_ratio', float('nan')):.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
