"""PNG plots for run reports, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def optimization_history(trials: Sequence[dict], metric: str, mode: str, path: Path) -> Path:
    """Each finished trial's value by trial number, and the best so far."""
    points = sorted(
        (t["number"], float(t["value"]))
        for t in trials
        if t.get("value") is not None and math.isfinite(float(t["value"]))
    )
    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        xs, ys = zip(*points)
        best, running = [], None
        for y in ys:
            running = y if running is None else (max(running, y) if mode == "max" else min(running, y))
            best.append(running)
        ax.scatter(xs, ys, s=18, color="tab:blue", label="trial")
        ax.step(xs, best, where="post", color="tab:red", label=f"best so far ({mode})")
        ax.legend()
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("optimisation history")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def importance_bars(importance: dict[str, float], path: Path) -> Path:
    ordered = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.5 * len(ordered) + 1)))
    ax.barh([k for k, _ in ordered], [v for _, v in ordered], color="tab:green")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the objective's variance explained")
    ax.set_title("parameter importance")
    return _save(fig, path)


def loss_curve(history: Sequence[dict], path: Path) -> Path:
    """Per-epoch train (and validation) score and the population's mean, from an ES run's history."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (
        ("train_score", "train score"),
        ("val_score", "val score"),
        ("population_mean", "population mean"),
    ):
        points = [(m["epoch"], m[key]) for m in history if m.get(key) is not None and math.isfinite(m[key])]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("score (higher is better)")
    ax.set_title("ES training")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return _save(fig, path)


def archive_tree(nodes: Sequence[tuple[str, str | None, float | None, bool]], path: Path) -> Path:
    """The family tree: ``(gen_id, parent_id, score, valid)`` per generation, children right of parents."""
    children: dict[str | None, list[str]] = {}
    info = {gen: (parent, score, valid) for gen, parent, score, valid in nodes}
    for gen, parent, _, _ in nodes:
        children.setdefault(parent if parent in info else None, []).append(gen)
    place: dict[str, tuple[int, float]] = {}
    row = [0]

    def layout(gen: str, depth: int) -> float:
        kids = children.get(gen, [])
        if not kids:
            y = float(row[0])
            row[0] += 1
        else:
            y = sum(layout(k, depth + 1) for k in kids) / len(kids)
        place[gen] = (depth, y)
        return y

    for root in children.get(None, []):
        layout(root, 0)
    fig, ax = plt.subplots(
        figsize=(max(5, 2.2 * (1 + max((d for d, _ in place.values()), default=0))), max(2.5, 0.8 * max(row[0], 1) + 1))
    )
    cmap = plt.get_cmap("viridis")
    for gen, (depth, y) in place.items():
        parent = info[gen][0]
        if parent in place:
            px, py = place[parent]
            ax.plot([px, depth], [py, y], color="grey", zorder=1)
    for gen, (depth, y) in place.items():
        _, score, valid = info[gen]
        color = "lightgrey" if score is None else cmap(score)
        ax.scatter([depth], [y], s=500, color=color, edgecolors="black" if valid else "red", linewidths=2, zorder=2)
        name = gen if gen == "initial" else f"gen{gen}"
        ax.annotate(
            f"{name}\n{'n/a' if score is None else f'{score:.2f}'}",
            (depth, y),
            textcoords="offset points",
            xytext=(0, 16),
            ha="center",
            fontsize=8,
        )
    ax.set_xlabel("generation depth")
    ax.set_xticks(range(1 + max((d for d, _ in place.values()), default=0)))
    ax.set_yticks([])
    ax.set_title("archive (colour: score; red edge: not a valid parent)")
    ax.margins(0.2)
    return _save(fig, path)
