"""Each engine's report: ``report.md`` with the run's key numbers, beside its PNG plots.

The same markdown is what the flows publish as a Prefect artifact, so the UI and the output
folder say the same thing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hyperfunc_core.reports.importance import parameter_importance

if TYPE_CHECKING:
    from hyperfunc_core.evolution.archive import ArchiveData

REPORT_FILE = "report.md"
SWEEP_RESULT_FILE = "result.json"  # a sweep's result (tune()'s return value), beside its report


@dataclass
class Report:
    folder: Path
    markdown: str
    plots: list[Path] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.folder / REPORT_FILE


def _transcript_link(folder: Path, gen_id: object) -> str:
    from hyperfunc_core.evolution.archive import TRANSCRIPT_FILE, gen_dir

    path = gen_dir(folder, gen_id) / TRANSCRIPT_FILE
    return f"[transcript]({path.relative_to(folder).as_posix()})" if path.exists() else ""


def _test_text(test: dict | None) -> str:
    if not test:
        return "not run (no test split, or the run has not ended)"
    if test.get("error"):
        return f"gen{test['gen_id']} failed: {str(test['error'])[:80]}"
    return f"gen{test['gen_id']}: {_fmt(test.get('score'))} (validation {_fmt(test.get('validation'))})"


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _write(folder: Path, markdown: str, pictures: list[Path]) -> Report:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT_FILE).write_text(markdown)
    return Report(folder, markdown, pictures)


def reported_key(reports: dict[str, list[dict]], preferred: Sequence[str]) -> str | None:
    """The reported value to draw learning curves of: the first of ``preferred`` any trial reported,
    else the first numeric key reported."""
    seen: list[str] = []
    for series in reports.values():
        for report in series:
            for key, value in report.items():
                if (
                    key != "step"
                    and isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and key not in seen
                ):
                    seen.append(key)
    return next((k for k in preferred if k in seen), seen[0] if seen else None)


def sweep_report(
    result: dict,
    folder: str | Path,
    reports: dict[str, list[dict]] | None = None,
    report_key: str | None = None,
) -> Report:
    """A sweep's numbers and its plots (``tune()``'s result; ``reports``: each trial's ``ctx.report``
    values by trial id, drawn as learning curves of ``report_key``, default the watched metric)."""
    from hyperfunc_core.reports import plots  # matplotlib only when a report is drawn

    folder = Path(folder)
    trials, metric, mode = result["trials"], result["metric"], result.get("mode", "max")
    importance = parameter_importance([t for t in trials if t["state"] == "complete"])
    pictures = [
        ("optimisation history", plots.optimization_history(trials, metric, mode, folder / "optimization_history.png")),
        ("parameter importance", plots.importance_bars(importance, folder / "parameter_importance.png")),
        ("parallel coordinates", plots.parallel_coordinates(trials, metric, mode, folder / "parallel_coordinates.png")),
        ("slice", plots.slice_plot(trials, metric, mode, folder / "slice.png")),
    ]
    ranked = [name for name, _ in sorted(importance.items(), key=lambda kv: -kv[1])]
    if len(ranked) >= 2:
        pictures.append(
            ("contour", plots.contour_plot(trials, (ranked[0], ranked[1]), metric, mode, folder / "contour.png"))
        )
    if result.get("pareto") is not None:
        pictures.insert(
            0,
            (
                "Pareto front",
                plots.pareto_front(trials, result["pareto"], result["metrics"], result["modes"], folder / "pareto.png"),
            ),
        )
    stopping = result.get("early_stopping") or {}
    key = report_key or reported_key(reports or {}, [stopping.get("metric") or "", metric])
    if reports and key:
        pictures.append(
            (
                "intermediate values",
                plots.intermediate_values(trials, reports, key, folder / "intermediate_values.png", mode),
            )
        )
    best = result.get("best")
    lines = [
        f"# Sweep `{result['study_name']}`",
        "",
        "| | |",
        "|---|---|",
        f"| strategy | {result.get('strategy', 'n/a')} |",
        f"| trials | {len(trials)} ({', '.join(f'{n} {s}' for s, n in sorted(result['counts'].items()))}) |",
        f"| best {metric} ({mode}) | {_fmt(best['value']) if best else 'n/a'} |",
        f"| best parameters | {best['params'] if best else 'n/a'} |",
        *(
            [f"| Pareto front | {len(result['pareto'])} trials on {', '.join(result['metrics'])} |"]
            if "pareto" in result
            else []
        ),
        *(
            [f"| constraints | {', '.join(result['constraints'])} <= 0; {result['infeasible']} trials broke one |"]
            if result.get("constraints")
            else []
        ),
        *(
            [f"| early stopping | {stopping['policy']}: pruned {stopping['pruned']} of {len(trials)} trials |"]
            if stopping
            else []
        ),
        *([f"| **early stopping was blind** | {stopping['blind']} |"] if stopping.get("blind") else []),
        "",
        "## Parameter importance",
        "",
        "| parameter | share |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in sorted(importance.items(), key=lambda kv: -kv[1])],
        "",
        *[line for title, picture in pictures for line in (f"![{title}]({picture.name})", "")],
    ]
    report = _write(folder, "\n".join(lines), [picture for _, picture in pictures])
    # The whole result beside the report: a sweep whose study lived in memory is still found later
    # (``hyperfunc runs``) and its trials can be read back.
    (folder / SWEEP_RESULT_FILE).write_text(json.dumps(result, default=str, indent=1))
    return report


def training_report(run_name: str, history: Sequence[dict], summary: dict, folder: str | Path) -> Report:
    """The loss curve (scores per epoch) and final numbers of an ES run."""
    from hyperfunc_core.reports import plots  # matplotlib only when a report is drawn

    folder = Path(folder)
    best = None if summary.get("best_epoch") is None else (summary["best_epoch"], summary["best_score"])
    pictures = [plots.loss_curve(history, folder / "loss_curve.png", best)]
    lines = [
        f"# ES run `{run_name}`",
        "",
        "| | |",
        "|---|---|",
        f"| epochs | {len(history)} |",
        f"| steps | {summary.get('steps')} |",
        f"| first train score | {_fmt(history[0].get('train_score') if history else None)} |",
        f"| final train score | {_fmt(summary.get('train_score'))} |",
        f"| final val score | {_fmt(summary.get('val_score'))} |",
        f"| best epoch | {_fmt(summary.get('best_epoch'))} ({summary.get('best_split') or 'n/a'} score "
        f"{_fmt(summary.get('best_score'))}); its θ is `best.pt`, the last is `final.pt` |",
        f"| θ kept in the system | {summary.get('kept', 'final')} |",
        f"| best candidate score (one minibatch) | {_fmt(summary.get('best_candidate_score'))} |",
        "",
        "| epoch | train | val | population mean | sigma | failed candidates |",
        "|---|---|---|---|---|---|",
        *[
            f"| {m['epoch']} | {_fmt(m.get('train_score'))} | {_fmt(m.get('val_score'))} | "
            f"{_fmt(m.get('population_mean'))} | {_fmt(m.get('sigma'))} | {m.get('failed_candidates', 0)} |"
            for m in history
        ],
        "",
        "![loss curve](loss_curve.png)",
        "",
    ]
    return _write(folder, "\n".join(lines), pictures)


def evolution_report(
    output_dir: str | Path,
    stop_reason: str | None = None,
    cost_usd: float | None = None,
    data: "ArchiveData | None" = None,
    execution: str | None = None,
    base_commit: str | None = None,
    test: dict | None = None,
) -> Report:
    """The archive tree with scores, and a table of every generation (train, validation), in the run's
    folder (``data``: the archive, when the caller holds it; else read from the folder; ``execution``:
    the executor mode that ran the generations and what it guarantees; ``test``: the best generation's
    test-split evaluation)."""
    from hyperfunc_core.evolution.archive import load_archive
    from hyperfunc_core.evolution.report import family_tree, savings_line, stage_note
    from hyperfunc_core.reports import plots

    folder = Path(output_dir)
    data = data if data is not None else load_archive(folder)
    nodes = [
        (
            str(g),
            None if data.entry(g).parent_id is None else str(data.entry(g).parent_id),
            data.entry(g).score,
            data.entry(g).valid_parent,
        )
        for g in data.archive
    ]
    pictures = [
        plots.archive_tree(nodes, folder / "archive_tree.png"),
        plots.score_over_generations(nodes, [str(g) for g in data.archive], folder / "score_over_generations.png"),
    ]
    lineage = plots.best_lineage(nodes)
    best = data.best()
    lines = [
        f"# Evolution run `{folder.name}`",
        "",
        "| | |",
        "|---|---|",
        f"| generations | {len(nodes)} |",
        f"| best (chosen on validation) | {'n/a' if best is None else ('initial' if str(best.gen_id) == 'initial' else 'gen' + str(best.gen_id))}"
        f" ({_fmt(None if best is None else best.score)}) |",
        f"| best on test (scored once) | {_test_text(test)} |",
        f"| staged evaluation | {savings_line(data)} |",
        f"| best lineage | {' → '.join(lineage) if lineage else 'n/a'} |",
        f"| stopped | {stop_reason or 'running'} |",
        f"| LLM cost | ${_fmt(cost_usd)} |",
        *([f"| executor | {execution} |"] if execution else []),
        *([f"| base commit | `{base_commit}` |"] if base_commit else []),
        "",
        "| generation | parent | train | validation | valid parent | stopped early / error | MetaAgent transcript |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {g} | {data.entry(g).parent_id} | {_fmt(data.entry(g).mean_on('train'))} | "
            f"{_fmt(data.entry(g).mean_on('validation'))} | {data.entry(g).valid_parent} | "
            f"{stage_note(data.entry(g))[:80]} | {_transcript_link(folder, g)} |"
            for g in data.archive
        ],
        "",
        f"Read a generation whole (scores, patch, the MetaAgent's transcript): `hyperfunc archive show {folder} --gen N`.",
        "",
        "```",
        family_tree(data),
        "```",
        "",
        "![archive tree](archive_tree.png)",
        "",
        "![score over generations](score_over_generations.png)",
        "",
    ]
    return _write(folder, "\n".join(lines), pictures)
