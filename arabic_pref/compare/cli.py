"""`python -m arabic_pref.compare`: the leaderboard of a sweep (or of single runs) in the terminal.

    python -m arabic_pref.compare                          # newest sweep in ./mlflow.db, else its single runs
    python -m arabic_pref.compare --study smoke --plots plots/ --csv smoke.csv
    python -m arabic_pref.compare --single                 # the runs that are not part of a sweep

Exit code 2 with one line when the store, experiment or study is not there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_pref import tracking
from arabic_pref.compare.runs import DEFAULT_EXPERIMENT

EXIT_BAD_INPUT = 2


def parser(prog: str = "python -m arabic_pref.compare") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment (default: %(default)s)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--study", help="the sweep's Optuna study name (default: the newest sweep)")
    source.add_argument("--single", action="store_true", help="compare the runs that are not part of a sweep")
    p.add_argument("--storage", help="Optuna storage for states and values (default: optuna.db beside the store)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write the comparison plots as PNG into DIR")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write the table as CSV")
    p.add_argument("--top", type=int, default=3, help="how many best trials the learning-curve plot shows")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m arabic_pref.compare") -> int:
    args = parser(prog).parse_args(argv)
    from arabic_pref.compare.runs import client_for, format_table, leaderboard

    try:
        table = leaderboard(args.tracking_uri, args.experiment, args.study, args.storage, args.single)
    except (FileNotFoundError, LookupError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_table(table))
    if len(table.attrs.get("objectives", [])) > 1:
        front = ", ".join(f"#{n}" for n in table.attrs["pareto"]) or "none yet"
        print(f"Pareto-optimal trials ({' / '.join(table.attrs['objectives'])}): {front}")
    others = [s for s in table.attrs["sweeps"] if s != table.attrs["study"]]
    if others:
        print(f"other sweeps in this experiment: {', '.join(others)} (--study NAME)")
    print(f"in the MLflow UI ({tracking.ui_command(table.attrs['tracking_uri'])}): {table.attrs['ui_link']}")
    if args.csv:
        from arabic_pref.metadata import atomic_write_text

        atomic_write_text(args.csv, table.to_csv(index=False))
        print(f"table written to {args.csv}")
    if args.plots:
        from arabic_pref.compare.plots import save_plots

        client, _ = client_for(args.tracking_uri)
        for path in save_plots(table, client, args.plots, args.top):
            print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
