"""ES runs and their per-epoch checkpoints: rows in the database, tensors in files.

A checkpoint is written (to a temporary name, fsynced, then renamed) before its epoch's row
is committed, so a row always points at a complete file; a crash between the two leaves a
file that the resumed run simply overwrites. A checkpoint damaged anyway (a torn write on a
disk that lied about its sync, a truncated copy) is reported with its path, and the run
resumes from the last checkpoint that loads: the damaged epochs are trained again.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from sqlmodel import select

from hyperfunc_core.es.strategy import ESState
from hyperfunc_core.storage import session_scope
from hyperfunc_core.storage.models import ESEpoch, ESRun, utcnow
from hyperfunc_core.validation import InvalidInput


@dataclass
class Resumed:
    run_id: int
    state: ESState | None  # None: a fresh run
    next_epoch: int
    history: list[dict]
    spec: dict | None = None  # the run's stored spec
    key: str = ""  # names the run's kept step results: its id and creation time, so a run made again
    #               under an old name never reads the old run's results


def _run_key(run: ESRun) -> str:
    return f"es-{run.id}-{run.created_at:%Y%m%dT%H%M%S%f}"


class CheckpointStore:
    def __init__(self, database_url: str | None, root: Path) -> None:
        self.database_url, self.root = database_url, Path(root)

    def run_dir(self, name: str) -> Path:
        return self.root / re.sub(r"[^A-Za-z0-9_.-]+", "-", name)

    def open(self, name: str, config: dict, seed: int, resume: bool, spec: dict | None = None) -> Resumed:
        """Start run ``name``, or pick it up after its last finished epoch (same config required, but
        ``total_steps`` may grow: more steps continue the run). ``spec`` is kept with a new run."""
        with session_scope(self.database_url) as session:
            run = session.exec(select(ESRun).where(ESRun.name == name)).first()
            if run is not None and not resume:
                raise InvalidInput(f"run_name: an ES run named {name!r} exists; pass resume=True or another name")
            if run is None:
                run = ESRun(name=name, output_dir=str(self.run_dir(name)), config=config, seed=seed, spec=spec or {})
                session.add(run)
                session.commit()
                session.refresh(run)
                return Resumed(run.id, None, 0, [], run.spec, _run_key(run))
            changed = sorted(
                k for k in set(config) | set(run.config) if config.get(k) != run.config.get(k) and k != "total_steps"
            )
            if config.get("total_steps", 0) < run.config.get("total_steps", 0):
                changed.append("total_steps (fewer than before)")
            if changed:
                raise InvalidInput(
                    f"run_name: run {name!r} was started with other settings ({', '.join(changed)}); "
                    f"resume it with the same ones or use another name"
                )
            if config != run.config:  # more steps: the run goes on from its last checkpoint
                run.config = config
            epochs = list(session.exec(select(ESEpoch).where(ESEpoch.run_id == run.id).order_by(ESEpoch.epoch)).all())
            run.status, run.finished_at = "running", None
            session.add(run)
            session.commit()
            while epochs:
                last = epochs[-1]
                try:
                    state = ESState.from_dict(torch.load(last.checkpoint_path, weights_only=False))
                except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, pickle errors...
                    message = (
                        f"ES run {name!r}: the checkpoint of epoch {last.epoch} ({last.checkpoint_path}) cannot "
                        f"be read ({type(exc).__name__}: {str(exc)[:200]}); resuming from the epoch before it"
                    )
                    logging.getLogger("hyperfunc").warning(message)
                    warnings.warn(message, RuntimeWarning, stacklevel=2)
                    session.delete(last)  # the epoch is trained again and recorded anew
                    session.commit()
                    epochs.pop()
                    continue
                return Resumed(
                    run.id, state, last.epoch + 1, [dict(e.metrics) for e in epochs], run.spec, _run_key(run)
                )
            return Resumed(run.id, None, 0, [], run.spec, _run_key(run))

    def save_epoch(self, run_id: int, name: str, epoch: int, state: ESState, metrics: dict) -> str:
        folder = self.run_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"epoch-{epoch:05d}.pt"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            torch.save(state.to("cpu").to_dict(), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        with session_scope(self.database_url) as session:
            session.add(ESEpoch(run_id=run_id, epoch=epoch, metrics=metrics, checkpoint_path=str(path)))
            run = session.get(ESRun, run_id)
            if run is not None and state.best_score > (run.best_score if run.best_score is not None else float("-inf")):
                run.best_score = state.best_score
                session.add(run)
            session.commit()
        return str(path)

    def epoch_state(self, name: str, epoch: int) -> ESState:
        """The ES state run ``name`` checkpointed at the end of ``epoch``."""
        return ESState.from_dict(torch.load(self.run_dir(name) / f"epoch-{epoch:05d}.pt", weights_only=False))

    def save_theta(self, name: str, theta: dict[str, torch.Tensor], which: str = "final") -> Path:
        """A θ (``{hyperfunction: tensor}``) the run ends with: ``final`` (the last) or ``best`` (the
        best-scoring epoch's), as ``final.pt`` / ``best.pt``; what ``load_final`` serves."""
        folder = self.run_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        path, tmp = folder / f"{which}.pt", folder / f"{which}.tmp"
        torch.save({n: t.detach().cpu() for n, t in theta.items()}, tmp)
        os.replace(tmp, path)
        return path

    def load_final(self, name: str | None = None, which: str = "final") -> tuple[str, dict[str, torch.Tensor]]:
        """θ of run ``name``, or of the run that finished last; (run name, θ). ``which``: ``final`` or
        ``best`` (a run finished before best θ were kept serves its final θ for both)."""
        if which not in ("final", "best"):
            raise InvalidInput(f"which: expected 'final' or 'best', got {which!r}")
        with session_scope(self.database_url) as session:
            query = select(ESRun).where(ESRun.status == "finished")
            if name is not None:
                query = query.where(ESRun.name == name)
            runs = session.exec(query.order_by(ESRun.finished_at.desc(), ESRun.id.desc())).all()
        for run in runs:
            path = self.run_dir(run.name) / f"{which}.pt"
            if not path.exists():
                path = self.run_dir(run.name) / "final.pt"
            if path.exists():
                return run.name, torch.load(path, weights_only=True)
        if name is not None:
            raise InvalidInput(f"run_name: no finished ES run named {name!r} with a saved θ in this storage")
        raise InvalidInput("no finished ES run with a saved θ in this storage; train with system.optimize(...) first")

    def finish(self, run_id: int, status: str = "finished") -> None:
        with session_scope(self.database_url) as session:
            run = session.get(ESRun, run_id)
            if run is not None:
                run.status, run.finished_at = status, utcnow()
                session.add(run)
                session.commit()
