"""The figures every run and sweep draws: learning curves read back from MLflow, and objective against a setting.

A run's metrics already live in MLflow with their steps; one PNG next to them (`learning_curves.png`) lets a run
be judged from its artifacts page. A sweep's parent run and the compare command draw the objective against beta
(or the learning rate) one series per loss type, with the same function. Figures are bare matplotlib Figures (no
pyplot): no GUI backend is touched and nothing needs closing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CURVES_FILE = "learning_curves.png"
# One panel per quantity: the training metric first, then its validation twin (drawn dashed) when logged.
PANELS: dict[str, tuple[str, ...]] = {
    "DPO loss": ("loss", "eval_loss"),
    "reward accuracy (TRL)": ("rewards/accuracies", "eval_rewards/accuracies"),
    "reward margin (TRL)": ("rewards/margins", "eval_rewards/margins"),
    "preference accuracy (validation)": ("preference_accuracy",),
}
Histories = dict[str, list[tuple[int, float]]]


def metric_histories(client: Any, run_id: str, names: Sequence[str] | None = None) -> Histories:
    """{metric: [(step, value), ...]} sorted by step, for the metrics of PANELS the run logged."""
    names = names or [name for metrics in PANELS.values() for name in metrics]
    histories: Histories = {}
    for name in names:
        points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))
        if points:
            histories[name] = points
    return histories


def draw_learning_curves(runs: Mapping[str, Histories], title: str = "") -> Any:
    """A 2x2 figure, one line per run (label -> histories) in each panel.

    A bare matplotlib Figure (no pyplot): no GUI backend is touched and nothing needs closing; a notebook shows
    it as `Image(arabic_pref.plots.to_png(fig))`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7))
    axes = fig.subplots(2, 2)
    for ax, (panel, metrics) in zip(axes.flat, PANELS.items(), strict=True):
        for index, (label, histories) in enumerate(runs.items()):
            color = f"C{index % 10}"
            for metric in metrics:
                points = histories.get(metric)
                if not points:
                    continue
                style = "--" if metric.startswith("eval_") else "-"
                name = label if metric == metrics[0] else f"{label} (validation)"
                ax.plot([p[0] for p in points], [p[1] for p in points], style, color=color, marker=".", label=name)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_learning_curves(client: Any, run_id: str, path: Path, label: str = "run") -> Path:
    run = client.get_run(run_id)
    fig = draw_learning_curves({label: metric_histories(client, run_id)}, title=run.info.run_name or run_id)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def log_learning_curves(tracking_uri: str, run_id: str | None) -> None:
    """Draw the run's curves from what MLflow holds and attach them to the run as `learning_curves.png`."""
    if run_id is None:
        return
    import tempfile

    from arabic_pref import tracking

    client = tracking.client(tracking_uri)
    with tempfile.TemporaryDirectory() as folder:
        path = save_learning_curves(client, run_id, Path(folder) / CURVES_FILE)
        client.log_artifact(run_id, str(path))


def objective_scatter(
    series: Mapping[str, Sequence[tuple[float, float]]],
    xlabel: str,
    ylabel: str,
    title: str = "",
    hollow: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    chance: float | None = None,
) -> Any:
    """Objective against a setting, one colour per series (loss type): filled points, and `hollow` ones for trials
    that did not complete (pruned: their last reported value). Log x axis when every x is positive, since beta
    and learning rates are searched on log scales; a dotted line at `chance` when given."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    hollow = hollow or {}
    xs = [x for points in (*series.values(), *hollow.values()) for x, _ in points]
    for index, name in enumerate(sorted(set(series) | set(hollow), key=str)):
        color = f"C{index % 10}"
        if series.get(name):
            ax.scatter([p[0] for p in series[name]], [p[1] for p in series[name]], color=color, label=str(name))
        if hollow.get(name):
            points = hollow[name]
            ax.scatter(
                [p[0] for p in points],
                [p[1] for p in points],
                facecolors="none",
                edgecolors=color,
                label=f"{name} (pruned)",
            )
    if xs and all(x > 0 for x in xs):
        ax.set_xscale("log")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if ax.collections:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def to_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, e.g. for `IPython.display.Image` (a bare Figure has no notebook display)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
