"""Past runs of all three engines, from our database and from Prefect together.

Our tables know what each run produced (trials and best values, ES epochs, generations and
scores); Prefect knows how each orchestrated run went (its flow run's state and duration).
A run is matched to its latest flow run by the name the engine's flow gives it:
``tune-<study>``, ``train-<run>``, ``evolve-<run label>`` (an evolution run named by its
folder goes by the folder's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass
class RunSummary:
    engine: str  # tuning | training | evolution
    name: str
    status: str
    started_at: datetime | None
    duration_s: float | None
    best: float | None
    detail: str
    flow_run: str | None = None  # the flow run's name
    flow_state: str | None = None  # its state in Prefect

    @property
    def flow_run_name(self) -> str:
        from hyperfunc_core.evolution.loop import run_label

        prefix = {"tuning": "tune", "training": "train", "evolution": "evolve"}[self.engine]
        return f"{prefix}-{run_label(self.name) if self.engine == 'evolution' else self.name}"


def _aware(t: datetime) -> datetime:
    """Database times are UTC; SQLite hands them back without their zone."""
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (_aware(end) - _aware(start)).total_seconds()


def list_runs(url: str | None = None, with_prefect: bool = True) -> list[RunSummary]:
    """Every study, ES run and evolution run, newest first."""
    from sqlalchemy import func
    from sqlmodel import select

    from hyperfunc_core.storage import ESEpoch, ESRun, EvolutionRun, Generation, session_scope
    from hyperfunc_core.tuning.study_store import list_studies

    out: list[RunSummary] = []
    for study in list_studies(url):
        counts = study["counts"]
        status = "running" if counts.get("running") else ("finished" if counts else "empty")
        out.append(
            RunSummary(
                "tuning",
                study["name"],
                status,
                study["created_at"],
                _seconds(study["created_at"], study["last_finished_at"]),
                study["best"],
                f"{study['strategy']}, {study['metric']} ({study['mode']}), "
                + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
            )
        )
    with session_scope(url) as s:
        for run in s.exec(select(ESRun)).all():
            epochs = s.exec(select(func.count(ESEpoch.id)).where(ESEpoch.run_id == run.id)).one()
            last = s.exec(select(ESEpoch).where(ESEpoch.run_id == run.id).order_by(ESEpoch.epoch.desc())).first()
            score = last.metrics.get("train_score") if last is not None else None
            out.append(
                RunSummary(
                    "training",
                    run.name,
                    run.status,
                    run.created_at,
                    _seconds(run.created_at, run.finished_at),
                    score,
                    f"{epochs} epochs, best candidate {run.best_score if run.best_score is not None else 'n/a'}",
                )
            )
        for run in s.exec(select(EvolutionRun)).all():
            gens = s.exec(select(Generation).where(Generation.run_id == run.id)).all()
            scores = [g.score for g in gens if g.score is not None]
            out.append(
                RunSummary(
                    "evolution",
                    run.name,
                    run.status,
                    run.created_at,
                    _seconds(run.created_at, run.finished_at),
                    max(scores, default=run.best_score),
                    f"{len(gens)} generations, ${run.cost_usd:.4f}",
                )
            )
    if url is None:  # the project's own database: its home's reports also know the sweeps kept in memory
        known = {r.name for r in out if r.engine == "tuning"}
        out.extend(r for r in reported_sweeps() if r.name not in known)
    if with_prefect:
        from hyperfunc_core.launch import attach_flow_runs

        attach_flow_runs(out)
    return sorted(out, key=lambda r: _aware(r.started_at).timestamp() if r.started_at else 0.0, reverse=True)


def reported_sweeps() -> list[RunSummary]:
    """Sweeps known by their reports (``$HYPERFUNC_HOME/runs/tuning/*/result.json``): those whose
    study lived in memory (``tune()`` without ``storage``) are in no database, but their result is here."""
    import json

    from hyperfunc_core.reports.writers import SWEEP_RESULT_FILE
    from hyperfunc_core.settings import get_settings

    out = []
    for path in sorted((get_settings().outputs_dir / "tuning").glob(f"*/{SWEEP_RESULT_FILE}")):
        try:
            result = json.loads(path.read_text())
            finished = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
            elapsed = float(result.get("elapsed_s") or 0.0)
            counts = result.get("counts") or {}
            best = (result.get("best") or {}).get("value")
            out.append(
                RunSummary(
                    "tuning",
                    str(result["study_name"]),
                    "finished",
                    datetime.fromtimestamp(finished.timestamp() - elapsed, tz=timezone.utc),
                    elapsed,
                    best,
                    f"{result.get('strategy', '?')}, "
                    + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                    + f"; not in this database (a study in memory?): its trials are in {path}",
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a report being written, or one from an older version
    return out


def run_details(name: str, url: str | None = None) -> dict[str, str]:
    """What one run (a study, an ES run or an evolution run) is and did, as labelled text, for
    ``hyperfunc runs --compare``: the summary every run has, then its engine's own numbers."""
    from sqlmodel import select

    from hyperfunc_core.hyper.training import best_epoch
    from hyperfunc_core.storage import ESEpoch, ESRun, EvolutionRun, Generation, session_scope
    from hyperfunc_core.validation import InvalidInput

    found = [r for r in list_runs(url, with_prefect=False) if r.name == name]
    if not found:
        raise InvalidInput(f"--compare: no study, ES run or evolution run named {name!r} in this database")
    run = found[0]
    details = {
        "engine": run.engine,
        "status": run.status,
        "started": run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "",
        "duration": "" if run.duration_s is None else f"{run.duration_s:.1f}s",
        "best": "" if run.best is None else f"{run.best:.6g}",
    }
    if run.engine == "tuning":
        from hyperfunc_core.tuning.export import study_rows

        try:
            rows, study = study_rows(name, url)
        except InvalidInput:  # a sweep known by its report only (its study lived in memory)
            study = None
        if study is not None:
            finished = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
            top = (max if study.mode == "max" else min)(finished, key=lambda r: r["value"]) if finished else None
            details.update(
                {
                    "strategy": study.strategy,
                    "metric": f"{study.metric} ({study.mode})",
                    "trials": str(len(rows)),
                    **{
                        state: str(sum(r["state"] == state for r in rows)) for state in ("complete", "failed", "pruned")
                    },
                    "best trial": "" if top is None else f"#{top['number']}",
                    **(
                        {}
                        if top is None
                        else {k.removeprefix("params_"): str(v) for k, v in top.items() if k.startswith("params_")}
                    ),
                }
            )
    elif run.engine == "training":
        with session_scope(url) as s:
            es = s.exec(select(ESRun).where(ESRun.name == name)).one()
            history = [
                dict(e.metrics)
                for e in s.exec(select(ESEpoch).where(ESEpoch.run_id == es.id).order_by(ESEpoch.epoch)).all()
            ]
        last = history[-1] if history else {}
        best = best_epoch(history)
        config = es.config or {}
        details.update(
            {
                "epochs": str(len(history)),
                "steps": str(last.get("steps", "")),
                "pop_size": str(config.get("pop_size", "")),
                "sigma": str(config.get("sigma", "")),
                "lr": str(config.get("lr", "")),
                "final train score": _num(last.get("train_score")),
                "final val score": _num(last.get("val_score")),
                "best epoch": "" if best is None else f"{best[0]} ({best[1]} {best[2]:.6g})",
            }
        )
    else:
        with session_scope(url) as s:
            evo = s.exec(select(EvolutionRun).where(EvolutionRun.name == name)).one()
            gens = s.exec(select(Generation).where(Generation.run_id == evo.id)).all()
        scored = [g for g in gens if g.score is not None and g.valid_parent]
        top = max(scored, key=lambda g: g.score) if scored else None
        details.update(
            {
                "generations": str(len(gens)),
                "failed": str(sum(not g.valid_parent for g in gens)),
                "best generation": "" if top is None else f"{top.gen_id} ({top.score:.3f})",
                "model": str((evo.config or {}).get("model", "")),
                "tokens": str(evo.prompt_tokens + evo.completion_tokens),
                "cost": f"${evo.cost_usd:.4f}",
            }
        )
    return details


def _num(value: object) -> str:
    return "" if value is None else f"{value:.6g}"
