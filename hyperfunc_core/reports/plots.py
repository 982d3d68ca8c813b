"""PNG plots for run reports, drawn with matplotlib's Agg backend (no display needed).

Sweeps get what optuna.visualization draws: the optimisation history (log axis where values span
decades), parallel coordinates, one slice per parameter, a contour of the two most important
parameters, the intermediate values each trial reported (pruned ones marked) and the importance
bars. ES runs get per-step and per-epoch curves; evolution runs a family tree with a colour bar and
the best lineage, and the score over generations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

SPAN = 30  # values whose largest is this many times their smallest (1.5 decades) get a log axis
STATE_STYLE = {"pruned": ("tab:orange", "x"), "failed": ("tab:red", "x")}


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _label(ax, title: str, xlabel: str | None, ylabel: str | None) -> None:
    """Title, axis labels, a light grid, and a legend when something was labelled."""
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def value_scale(values: Sequence[float]) -> str:
    """``log`` for positive values spanning ``SPAN`` (1.5 decades) or more, ``symlog`` for negative
    values or values of both signs that do, else ``linear``: one outlier must not flatten everything
    else into a line."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 3:
        return "linear"
    magnitudes = [abs(v) for v in finite if v != 0]
    if not magnitudes or max(magnitudes) / min(magnitudes) < SPAN:
        return "linear"
    if all(v > 0 for v in finite) or all(v < 0 for v in finite):
        return "log" if all(v > 0 for v in finite) else "symlog"
    return "symlog"


def _apply_scale(ax, axis: str, values: Sequence[float]) -> None:
    scale = value_scale(values)
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if scale == "symlog":
        magnitudes = sorted(abs(v) for v in values if v)
        setter("symlog", linthresh=magnitudes[len(magnitudes) // 10] if magnitudes else 1.0)
        low, high = min(values), max(values)  # symlog would show the empty side of zero too
        pad = 0.1 * (abs(high) + abs(low))
        (ax.set_ylim if axis == "y" else ax.set_xlim)(low - (pad if low <= 0 else 0), high + (pad if high >= 0 else 0))
        if high < 0:
            (ax.set_ylim if axis == "y" else ax.set_xlim)(low * 1.5, high / 1.5)
    elif scale == "log":
        setter("log")


def flat_params(params: dict, prefix: str = "") -> dict:
    """Nested parameters as ``{"a.b": value}``."""
    out: dict = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, name + "."))
        else:
            out[name] = value
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Axis:
    """How one parameter is placed on an axis: numbers as they are (log when they span decades),
    anything else as the index of its category."""

    def __init__(self, values: Sequence[object]) -> None:
        present = [v for v in values if v is not None]
        self.numeric = bool(present) and all(_is_number(v) for v in present)
        self.categories = [] if self.numeric else sorted({repr(v) for v in present})
        self.log = self.numeric and min(present) > 0 and max(present) / min(present) >= SPAN

    def position(self, value: object) -> float | None:
        if value is None:
            return None
        if self.numeric:
            return math.log10(value) if self.log else float(value)
        return float(self.categories.index(repr(value)))

    def label_ticks(self, ax, axis: str) -> None:
        if self.numeric:
            if self.log:
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
            return
        ticks = range(len(self.categories))
        labels = [c.strip("'") for c in self.categories]
        if axis == "x":
            ax.set_xticks(list(ticks), labels, rotation=30)
        else:
            ax.set_yticks(list(ticks), labels)


# -- sweeps ------------------------------------------------------------------------------------
def optimization_history(trials: Sequence[dict], metric: str, mode: str, path: Path) -> Path:
    """Each finished trial's value by trial number, the best so far, pruned and failed trials marked."""
    complete = sorted((t["number"], _finite(t.get("value"))) for t in trials if t.get("state") == "complete")
    complete = [(n, v) for n, v in complete if v is not None]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    values = [v for _, v in complete]
    if complete:
        xs, ys = zip(*complete)
        best, running = [], None
        for y in ys:
            running = y if running is None else (max(running, y) if mode == "max" else min(running, y))
            best.append(running)
        ax.scatter(xs, ys, s=18, color="tab:blue", label="complete")
        ax.step(xs, best, where="post", color="tab:red", label=f"best so far ({mode})")
    for state, (color, marker) in STATE_STYLE.items():
        marked = [(t["number"], _finite(t.get("value"))) for t in trials if t.get("state") == state]
        if not marked:
            continue
        floor = min(values) if values else 0.0
        xs = [n for n, _ in marked]
        ys = [v if v is not None else floor for _, v in marked]
        values.extend(v for _, v in marked if v is not None)
        ax.scatter(xs, ys, s=30, color=color, marker=marker, label=f"{state} ({len(marked)})")
    _apply_scale(ax, "y", values)
    _label(ax, "optimisation history", "trial", metric + (" (log scale)" if value_scale(values) != "linear" else ""))
    return _save(fig, path)


def pareto_front(
    trials: Sequence[dict], front: Sequence[dict], metrics: Sequence[str], modes: Sequence[str], path: Path
) -> Path:
    """The first two objectives of every complete trial, the Pareto front (``front``, the sweep's) joined
    as a staircase, and trials that broke a constraint greyed out: Optuna's ``plot_pareto_front``."""
    fig, ax = plt.subplots(figsize=(7, 5))

    def xy(trial: dict) -> list[float | None]:
        return [_finite(v) for v in (trial["info"].get("values") or [None, None])[:2]]

    points = [(t, xy(t)) for t in trials if t.get("state") == "complete" and None not in xy(t)]
    kept = [p for t, p in points if t["info"].get("feasible", True)]
    broke = [p for t, p in points if not t["info"].get("feasible", True)]
    front = sorted(p for p in map(xy, front) if None not in p)
    if kept:
        ax.scatter(*zip(*kept), s=18, color="tab:blue", alpha=0.6, label=f"complete ({len(kept)})")
    if broke:
        ax.scatter(*zip(*broke), s=22, color="0.6", marker="x", label=f"broke a constraint ({len(broke)})")
    if front:
        ax.scatter(*zip(*front), s=40, color="tab:red", zorder=3, label=f"Pareto front ({len(front)})")
        # The edge of what the front beats: flat to the next point's x when x is minimised.
        ax.step(*zip(*front), where="post" if modes[0] == "min" else "pre", color="tab:red", alpha=0.6)
    _label(ax, "Pareto front", f"{metrics[0]} ({modes[0]})", f"{metrics[1]} ({modes[1]})")
    return _save(fig, path)


def importance_bars(importance: dict[str, float], path: Path) -> Path:
    ordered = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.5 * len(ordered) + 1)))
    ax.barh([k for k, _ in ordered], [v for _, v in ordered], color="tab:green")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the objective's variance explained")
    ax.set_title("parameter importance")
    return _save(fig, path)


def _complete_rows(trials: Sequence[dict]) -> list[tuple[dict, float]]:
    rows = []
    for t in trials:
        value = _finite(t.get("value"))
        if t.get("state") == "complete" and value is not None:
            rows.append((flat_params(t.get("params") or {}), value))
    return rows


def _value_colors(values: Sequence[float], mode: str):
    """A colour per value (brighter is better) and the mappable for a colour bar."""
    cmap = plt.get_cmap("viridis" if mode == "max" else "viridis_r")
    norm = Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1)
    return [cmap(norm(v)) for v in values], plt.cm.ScalarMappable(norm=norm, cmap=cmap)


def parallel_coordinates(trials: Sequence[dict], metric: str, mode: str, path: Path) -> Path:
    """One line per complete trial through every parameter's axis (scaled to [0, 1]), coloured by value."""
    rows = _complete_rows(trials)
    names = sorted({n for params, _ in rows for n in params})
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * (len(names) + 1)), 4.5))
    if rows and names:
        axes = {n: _Axis([p.get(n) for p, _ in rows]) for n in names}
        spans = {}
        for n in names:
            positions = [axes[n].position(p.get(n)) for p, _ in rows]
            known = [x for x in positions if x is not None]
            spans[n] = (min(known), max(known)) if known else (0.0, 1.0)
        values = [v for _, v in rows]
        colors, mappable = _value_colors(values, mode)
        order = sorted(range(len(rows)), key=lambda i: values[i] if mode == "max" else -values[i])
        for i in order:  # best drawn last, on top
            params, value = rows[i]
            ys = []
            for n in names:
                x = axes[n].position(params.get(n))
                lo, hi = spans[n]
                ys.append(0.5 if x is None or hi == lo else (x - lo) / (hi - lo))
            lo_v, hi_v = min(values), max(values)
            ys.append(0.5 if hi_v == lo_v else (value - lo_v) / (hi_v - lo_v))
            ax.plot(range(len(names) + 1), ys, color=colors[i], alpha=0.7, linewidth=1.2)
        for k, n in enumerate(names):
            lo, hi = spans[n]
            low_text = _axis_text(axes[n], lo)
            high_text = _axis_text(axes[n], hi)
            ax.annotate(low_text, (k, 0), xytext=(0, -12), textcoords="offset points", ha="center", fontsize=7)
            ax.annotate(high_text, (k, 1), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
        fig.colorbar(mappable, ax=ax, label=metric)
    ax.set_xticks(range(len(names) + 1), [*names, metric], rotation=20)
    ax.set_yticks([])
    for k in range(len(names) + 1):
        ax.axvline(k, color="black", linewidth=0.8)
    ax.set_ylim(-0.1, 1.1)
    ax.set_title("parallel coordinates of the complete trials")
    return _save(fig, path)


def _axis_text(axis: _Axis, position: float) -> str:
    if not axis.numeric:
        return axis.categories[int(round(position))].strip("'") if axis.categories else ""
    value = 10**position if axis.log else position
    return f"{value:.3g}"


def slice_plot(trials: Sequence[dict], metric: str, mode: str, path: Path) -> Path:
    """The value against each parameter on its own (one panel each), coloured by trial number."""
    rows = [(flat_params(t.get("params") or {}), _finite(t.get("value")), t["number"]) for t in trials]
    rows = [(p, v, n) for p, v, n in rows if v is not None]
    names = sorted({n for params, _, _ in rows for n in params}) or ["(no parameters)"]
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(4.4 * cols + 1.2, 3.6 * nrows + 0.4), squeeze=False, sharey=True)
    # A fixed layout: matplotlib's constrained layout cost more than all the drawing here.
    fig.subplots_adjust(left=0.1, right=0.86, bottom=0.2 / nrows + 0.05, top=1 - 0.12 / nrows, wspace=0.08, hspace=0.4)
    values = [v for _, v, _ in rows]
    for k, name in enumerate(names):
        ax = grid[k // cols][k % cols]
        points = [(p[name], v, n) for p, v, n in rows if name in p]
        if points:
            axis = _Axis([x for x, _, _ in points])
            xs = [axis.position(x) for x, _, _ in points]
            xs = [10**x if axis.log else x for x in xs]
            scatter = ax.scatter(xs, [v for _, v, _ in points], c=[n for _, _, n in points], cmap="Blues", s=18)
            axis.label_ticks(ax, "x")
            _apply_scale(ax, "y", values)
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for k in range(len(names), nrows * cols):
        grid[k // cols][k % cols].axis("off")
    if rows:
        fig.colorbar(
            scatter, cax=fig.add_axes((0.89, 0.2 / nrows + 0.05, 0.015, 0.75 - 0.2 / nrows)), label="trial number"
        )
    fig.suptitle(f"slice: {metric} against each parameter")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def contour_plot(trials: Sequence[dict], pair: tuple[str, str], metric: str, mode: str, path: Path) -> Path:
    """The value over the two given parameters (the most important ones): an interpolated surface
    between the complete trials, which are drawn on it."""
    rows = _complete_rows(trials)
    x_name, y_name = pair
    points = [(p.get(x_name), p.get(y_name), v) for p, v in rows if x_name in p and y_name in p]
    fig, ax = plt.subplots(figsize=(7, 5.5))
    if points:
        x_axis, y_axis = _Axis([x for x, _, _ in points]), _Axis([y for _, y, _ in points])
        xs = [x_axis.position(x) for x, _, _ in points]
        ys = [y_axis.position(y) for _, y, _ in points]
        values = [v for _, _, v in points]
        cmap = "viridis" if mode == "max" else "viridis_r"
        distinct = len({(x, y) for x, y in zip(xs, ys)})
        surface = None
        # A surface between categories would invent values that exist nowhere: numbers only.
        if x_axis.numeric and y_axis.numeric and distinct >= 4 and len(set(xs)) > 1 and len(set(ys)) > 1:
            try:
                surface = ax.tricontourf(xs, ys, values, levels=14, cmap=cmap, alpha=0.8)
            except (ValueError, RuntimeError):  # a degenerate (collinear) set of points: the dots alone
                surface = None
        dots = ax.scatter(xs, ys, c=values, cmap=cmap, edgecolors="black", s=40 if surface is None else 25)
        fig.colorbar(surface if surface is not None else dots, ax=ax, label=metric)
        best = (max if mode == "max" else min)(range(len(values)), key=lambda i: values[i])
        ax.scatter([xs[best]], [ys[best]], marker="*", s=250, color="tab:red", edgecolors="white", label="best")
        ax.legend(fontsize=8)
        _log_ticks(ax, "x", x_axis)
        _log_ticks(ax, "y", y_axis)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(f"contour of {metric} over the two most important parameters")
    return _save(fig, path)


def _log_ticks(ax, axis: str, param: _Axis) -> None:
    """Positions of a log axis are log10 values: label them with the values themselves."""
    if not param.numeric:
        param.label_ticks(ax, axis)
        return
    if param.log:
        getter = ax.get_xticks if axis == "x" else ax.get_yticks
        setter = ax.set_xticks if axis == "x" else ax.set_yticks
        ticks = getter()
        setter(ticks, [f"{10**t:.2g}" for t in ticks])
        ax.set_xlabel(ax.get_xlabel()) if axis == "x" else None


def intermediate_values(
    trials: Sequence[dict], reports: dict[str, list[dict]], key: str, path: Path, mode: str = "max"
) -> Path:
    """The learning curve each trial reported with ``ctx.report`` (``key`` by report): complete trials
    coloured by final value, pruned ones dashed and ending in a cross where they were stopped."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    curves = []
    for t in trials:
        series = [(r.get("step", k), _finite(r.get(key))) for k, r in enumerate(reports.get(t["trial_id"], []))]
        series = [(s, v) for s, v in series if v is not None]
        if series:
            curves.append((t, series))
    values = [v for _, series in curves for _, v in series]
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    styles = {  # one collection per state: one artist, not one per trial (a sweep has hundreds)
        "complete": {"color": "tab:blue", "linewidth": 1.2, "alpha": 0.6},
        "pruned": {"color": "tab:orange", "linestyle": "--", "linewidth": 1, "alpha": 0.7},
        "failed": {"color": "tab:red", "linestyle": ":", "linewidth": 1, "alpha": 0.7},
    }
    counts = {state: 0 for state in styles}
    for state, style in styles.items():
        lines = [
            series for t, series in curves if (t.get("state") if t.get("state") in styles else "complete") == state
        ]
        counts[state] = len(lines)
        if lines:
            ax.add_collection(LineCollection(lines, **style))
    ends = [series[-1] for t, series in curves if t.get("state") == "pruned"]
    if ends:
        ax.scatter(*zip(*ends), color="tab:orange", marker="x", s=30, zorder=3)
    ax.autoscale_view()
    _apply_scale(ax, "y", values)

    _label(ax, f"intermediate values: {key} as each trial reported it", "step (ctx.report)", key)
    ax.legend(
        [
            Line2D([], [], color="tab:blue"),
            Line2D([], [], color="tab:orange", linestyle="--", marker="x"),
            Line2D([], [], color="tab:red", linestyle=":"),
        ],
        [f"complete ({counts['complete']})", f"pruned ({counts['pruned']})", f"failed ({counts['failed']})"],
        fontsize=8,
    )
    return _save(fig, path)


# -- ES training ---------------------------------------------------------------------------------
def loss_curve(history: Sequence[dict], path: Path, best: tuple[int, float] | None = None) -> Path:
    """Top: each step's population mean and best on its minibatch. Bottom: θ's train and validation
    score at each epoch's end, ``best`` (the run's best epoch and its score) starred."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5))
    steps = [s for m in history for s in (m.get("step_scores") or [])]
    if steps:
        xs = [s[0] for s in steps]
        for column, label, color in ((1, "population mean", "tab:blue"), (2, "population best", "tab:green")):
            points = [(x, s[column]) for x, s in zip(xs, steps) if s[column] is not None]
            if points:
                top.plot(*zip(*points), label=label, color=color, linewidth=1)
        for m in history[1:]:
            first = (m.get("step_scores") or [[None]])[0][0]
            if first is not None:
                top.axvline(first, color="grey", alpha=0.2)
    _label(top, "per step", "ES step (minibatch scores; grey lines: epoch starts)", "score")
    for key, label, color in (("train_score", "train", "tab:blue"), ("val_score", "validation", "tab:orange")):
        points = [(m["epoch"], m[key]) for m in history if _finite(m.get(key)) is not None]
        if points:
            bottom.plot(*zip(*points), marker="o", label=label, color=color)
    if best is not None:
        bottom.scatter([best[0]], [best[1]], marker="*", s=250, color="tab:red", zorder=3, label="best epoch")
    _label(bottom, "per epoch (θ at the epoch's end, on the whole split)", "epoch", "score (higher is better)")
    return _save(fig, path)


# -- evolution ---------------------------------------------------------------------------------
def best_lineage(nodes: Sequence[tuple[str, str | None, float | None, bool]]) -> list[str]:
    """The generations from the root to the best valid one."""
    info = {gen: (parent, score, valid) for gen, parent, score, valid in nodes}
    scored = [(score, gen) for gen, (_, score, valid) in info.items() if valid and score is not None]
    if not scored:
        return []
    gen = max(scored, key=lambda p: p[0])[1]
    line = []
    while gen is not None and gen in info and gen not in line:
        line.append(gen)
        gen = info[gen][0]
    return line[::-1]


def archive_tree(nodes: Sequence[tuple[str, str | None, float | None, bool]], path: Path) -> Path:
    """The family tree: ``(gen_id, parent_id, score, valid)`` per generation, children right of parents,
    coloured by score (with its bar), the lineage of the best generation drawn thick."""
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
        figsize=(max(7, 2.2 * (1 + max((d for d, _ in place.values()), default=0))), max(3, 0.8 * max(row[0], 1) + 1.5))
    )
    lineage = best_lineage(nodes)
    on_line = set(zip(lineage, lineage[1:]))
    cmap = plt.get_cmap("viridis")
    norm = Normalize(0.0, 1.0)
    for gen, (depth, y) in place.items():
        parent = info[gen][0]
        if parent in place:
            px, py = place[parent]
            best_edge = (parent, gen) in on_line
            ax.plot(
                [px, depth],
                [py, y],
                color="tab:red" if best_edge else "grey",
                linewidth=3.5 if best_edge else 1,
                zorder=1,
            )
    for gen, (depth, y) in place.items():
        _, score, valid = info[gen]
        color = "lightgrey" if score is None else cmap(norm(score))
        ax.scatter(
            [depth],
            [y],
            s=500,
            color=color,
            edgecolors="black" if valid else "red",
            linewidths=3 if gen in lineage else 1.5,
            linestyle="solid" if valid else "dashed",
            zorder=2,
        )
        name = gen if gen == "initial" else f"gen{gen}"
        ax.annotate(
            f"{name}\n{'n/a' if score is None else f'{score:.2f}'}",
            (depth, y),
            textcoords="offset points",
            xytext=(0, 16),
            ha="center",
            fontsize=8,
        )
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="score")
    ax.set_xlabel("generation depth")
    ax.set_xticks(range(1 + max((d for d, _ in place.values()), default=0)))
    ax.set_yticks([])
    ax.set_title("archive\nred line: best lineage; dashed red edge: not a valid parent", fontsize=10)
    ax.margins(0.2)
    return _save(fig, path)


def score_over_generations(
    nodes: Sequence[tuple[str, str | None, float | None, bool]], order: Sequence[str], path: Path
) -> Path:
    """Each generation's score in the order they ran, the best so far, invalid ones marked."""
    info = {gen: (score, valid) for gen, _, score, valid in nodes}
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = list(range(len(order)))
    scores = [info.get(g, (None, False))[0] for g in order]
    valid_points = [(x, s) for x, s, g in zip(xs, scores, order) if s is not None and info[g][1]]
    if valid_points:
        ax.scatter(*zip(*valid_points), color="tab:blue", label="valid generation", zorder=2)
    invalid = [(x, s if s is not None else 0.0) for x, s, g in zip(xs, scores, order) if not info.get(g, (0, False))[1]]
    if invalid:
        ax.scatter(*zip(*invalid), color="tab:red", marker="x", label=f"not a valid parent ({len(invalid)})", zorder=2)
    best, running = [], None
    for x, s, g in zip(xs, scores, order):
        if s is not None and info[g][1]:
            running = s if running is None else max(running, s)
        best.append(running)
    if any(b is not None for b in best):
        ax.step(
            xs,
            [b if b is not None else float("nan") for b in best],
            where="post",
            color="tab:green",
            label="best so far",
        )
    ax.set_xticks(xs, [g if g == "initial" else f"gen{g}" for g in order], rotation=30)
    ax.set_ylim(-0.05, 1.05)
    _label(ax, "score over generations", None, "score")
    return _save(fig, path)
