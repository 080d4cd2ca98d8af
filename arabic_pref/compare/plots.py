"""The comparison plots of a leaderboard, as matplotlib figures (the CLI saves them, the notebook shows them).

- objective against beta, one colour per loss type (IPO's beta lives on another scale, so each loss is its own
  series); objective against the learning rate that ran. Both on log axes; completed trials filled, pruned
  ones hollow (their value is the last one reported before pruning); failed trials have no value to draw.
- the best completed trials' learning curves, read back from MLflow (same panels as `learning_curves.png`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from arabic_pref.plots import draw_learning_curves, metric_histories, objective_scatter

PLOT_FILES = ("accuracy_vs_beta.png", "accuracy_vs_learning_rate.png", "best_learning_curves.png")


def objective_against(table: Any, column: str, label: str) -> Any:
    """Objective against `column` per loss type; a dotted line at chance for preference accuracy."""
    objective = table.attrs.get("objective", "objective")
    drawn = table[table["objective"].notna() & table[column].notna()]
    done, other = {}, {}
    for loss, group in drawn.groupby("loss_type"):
        complete = group["state"].isin(["COMPLETE", "FINISHED"])
        done[str(loss)] = list(zip(group[complete][column], group[complete]["objective"], strict=True))
        other[str(loss)] = list(zip(group[~complete][column], group[~complete]["objective"], strict=True))
    return objective_scatter(
        done,
        label,
        f"{objective} (validation)",
        title=f"{objective} against {label}: {table.attrs.get('source', '')}",
        hollow=other,
        chance=0.5 if objective == "preference_accuracy" else None,
    )


def accuracy_vs_beta(table: Any) -> Any:
    return objective_against(table, "beta", "beta")


def accuracy_vs_learning_rate(table: Any) -> Any:
    return objective_against(table, "learning_rate", "learning rate")


def best_learning_curves(table: Any, client: Any, top: int = 3) -> Any:
    """Learning curves of the `top` best rows that completed (the table is sorted best first)."""
    done = table[table["state"].isin(["COMPLETE", "FINISHED"]) & table["run_id"].notna()].head(top)
    runs = {}
    for row in done.itertuples(index=False):
        name = row.run_name or row.run_id[:8]
        value = "" if row.objective is None or math.isnan(row.objective) else f" ({row.objective:.3f})"
        runs[f"{name}{value}"] = metric_histories(client, row.run_id)
    return draw_learning_curves(runs, title=f"best {len(runs)}: {table.attrs.get('source', '')}")


def save_plots(table: Any, client: Any, folder: Path, top: int = 3) -> list[Path]:
    """The three plots of PLOT_FILES written as PNG into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = (accuracy_vs_beta(table), accuracy_vs_learning_rate(table), best_learning_curves(table, client, top))
    paths = []
    for name, fig in zip(PLOT_FILES, figures, strict=True):
        partial = folder / f".{name}.partial.png"  # renamed when complete: never a half-written plot
        fig.savefig(partial, dpi=100, bbox_inches="tight")
        partial.replace(folder / name)
        paths.append(folder / name)
    return paths
