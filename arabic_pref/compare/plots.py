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

from arabic_pref.compare.curves import draw_learning_curves, metric_histories

PLOT_FILES = ("accuracy_vs_beta.png", "accuracy_vs_learning_rate.png", "best_learning_curves.png")


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing to close

    fig = Figure(figsize=(6.5, 4.2))
    return fig, fig.subplots()


def objective_against(table: Any, column: str, label: str) -> Any:
    """Objective against `column` per loss type; a dotted line at chance for preference accuracy."""
    fig, ax = _figure()
    objective = table.attrs.get("objective", "objective")
    drawn = table[table["objective"].notna() & table[column].notna()]
    for index, (loss, group) in enumerate(sorted(drawn.groupby("loss_type"), key=lambda g: str(g[0]))):
        color = f"C{index % 10}"
        done = group[group["state"].isin(["COMPLETE", "FINISHED"])]
        other = group[~group.index.isin(done.index)]
        ax.scatter(done[column], done["objective"], color=color, label=str(loss))
        if len(other):
            ax.scatter(other[column], other["objective"], facecolors="none", edgecolors=color, label=f"{loss} (pruned)")
    if drawn[column].gt(0).all() and len(drawn):
        ax.set_xscale("log")
    if objective == "preference_accuracy":
        ax.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax.set_xlabel(label)
    ax.set_ylabel(f"{objective} (validation)")
    ax.set_title(f"{objective} against {label}: {table.attrs.get('source', '')}", fontsize=9)
    if ax.collections:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


def to_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, e.g. for `IPython.display.Image` (a bare Figure has no notebook display)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
