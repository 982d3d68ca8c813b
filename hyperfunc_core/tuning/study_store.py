"""Where a study's trials and reports live: in memory (the default) or in the SQL tables.

Both stores hand out trial numbers atomically (``claim``) so that several processes
sharing one PostgreSQL study never run the same unique point twice and never exceed
``max_trials``; a finished trial is written the moment it finishes, so a crash loses
nothing that had finished.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any

from hyperfunc_core.concurrency import process_alive
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.validation import InvalidInput

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def new_trial_id() -> str:
    return f"trial_{uuid.uuid4().hex[:12]}"


class StudyStore:
    """The interface the sweep uses; a study is opened before anything else is called."""

    name: str

    def open(self, name: str, *, metric: str, mode: str, strategy: str, space: dict, settings: dict) -> None:
        raise NotImplementedError

    def trials(self) -> list[TrialRecord]:
        raise NotImplementedError

    def claim(self, params: dict, info: dict, key: str | None, max_trials: int) -> TrialRecord | None:
        """A new running trial, or None when the study is full or ``key`` was already claimed."""
        raise NotImplementedError

    def report(self, trial: TrialRecord, step: int, metrics: dict) -> None:
        raise NotImplementedError

    def reports(self) -> dict[str, list[dict]]:
        """Every trial's reported metrics in order, by trial_id."""
        raise NotImplementedError

    def finish(self, trial: TrialRecord) -> None:
        raise NotImplementedError

    def recover_interrupted(self) -> int:
        """Mark running trials whose process died as interrupted (so they count no more); returns how many."""
        return 0

    def running_elsewhere(self) -> int:
        """Trials that other processes are running now (a sweep that finds the study full waits for them)."""
        return 0


class MemoryStudyStore(StudyStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trials: list[TrialRecord] = []
        self._reports: dict[str, list[dict]] = {}
        self._keys: set[str] = set()

    def open(self, name: str, **_: Any) -> None:
        self.name = name

    def trials(self) -> list[TrialRecord]:
        with self._lock:
            return list(self._trials)

    def claim(self, params: dict, info: dict, key: str | None, max_trials: int) -> TrialRecord | None:
        with self._lock:
            if len(self._trials) >= max_trials or (key is not None and key in self._keys):
                return None
            if key is not None:
                self._keys.add(key)
            trial = TrialRecord(number=len(self._trials), trial_id=new_trial_id(), params=dict(params), info=dict(info))
            self._trials.append(trial)
            self._reports[trial.trial_id] = []
            return trial

    def report(self, trial: TrialRecord, step: int, metrics: dict) -> None:
        with self._lock:
            self._reports[trial.trial_id].append(dict(metrics, step=step))

    def reports(self) -> dict[str, list[dict]]:
        with self._lock:
            return {k: list(v) for k, v in self._reports.items()}

    def finish(self, trial: TrialRecord) -> None:
        with self._lock:
            self._trials[trial.number] = trial


class SQLStudyStore(StudyStore):
    """A study in the ``study``/``trial``/``trialreport`` tables of any SQLAlchemy URL.

    While a process runs trials of the study, a thread refreshes their heartbeat every
    ``heartbeat_s``; a running trial whose heartbeat is older than ``stale_after_s`` (its process
    died or lost the database, on any host), or whose process on this host is gone, is marked
    interrupted by the next process that looks, so the study's budget is still spent in full.
    """

    heartbeat_s = 10.0
    stale_after_s = 60.0

    def __init__(self, url: str) -> None:
        from hyperfunc_core.storage import get_engine

        self.url = url
        get_engine(url)  # fail fast on a bad URL, create tables
        self.study_id: int | None = None
        self._beating = False

    def open(self, name: str, *, metric: str, mode: str, strategy: str, space: dict, settings: dict) -> None:
        from sqlalchemy.exc import IntegrityError
        from sqlmodel import select

        from hyperfunc_core.storage import Study, session_scope

        self.name = name
        for _ in range(3):
            with session_scope(self.url) as s:
                study = s.exec(select(Study).where(Study.name == name)).first()
                if study is not None:
                    if (study.metric, study.mode) != (metric, mode):
                        raise InvalidInput(
                            f"study_name {name!r}: exists with metric={study.metric!r}, mode={study.mode!r}; "
                            f"got metric={metric!r}, mode={mode!r}"
                        )
                    changed = space_change(study.space, space)
                    if changed:
                        raise InvalidInput(
                            f"study_name {name!r}: exists with another space ({changed}); its trials "
                            f"cannot be mixed with these: use a new study_name"
                        )
                    self.study_id = study.id
                    return
            try:
                with session_scope(self.url) as s:
                    study = Study(
                        name=name, metric=metric, mode=mode, strategy=strategy, space=space, settings=settings
                    )
                    s.add(study)
                    s.flush()
                    self.study_id = study.id
                    return
            except IntegrityError:  # another process created it first
                continue
        raise RuntimeError(f"could not open study {name!r}")

    @staticmethod
    def _record(row: Any) -> TrialRecord:
        duration = (row.finished_at - row.started_at).total_seconds() if row.finished_at and row.started_at else None
        return TrialRecord(
            number=row.number,
            trial_id=row.trial_id,
            params=row.params,
            state=row.state,
            value=row.value,
            score=row.score,
            metrics=row.metrics,
            artifacts=row.artifacts,
            info=row.info,
            error=row.error,
            duration_s=duration,
        )

    def trials(self) -> list[TrialRecord]:
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope

        with session_scope(self.url) as s:
            rows = s.exec(select(Trial).where(Trial.study_id == self.study_id).order_by(Trial.number)).all()
            return [self._record(r) for r in rows]

    def claim(self, params: dict, info: dict, key: str | None, max_trials: int) -> TrialRecord | None:
        from sqlalchemy import func
        from sqlalchemy.exc import IntegrityError
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope, utcnow

        for _ in range(50):
            try:
                with session_scope(self.url) as s:
                    if (
                        key is not None
                        and s.exec(
                            select(Trial.id).where(Trial.study_id == self.study_id, Trial.param_key == key)
                        ).first()
                    ):
                        return None
                    top = s.exec(select(func.max(Trial.number)).where(Trial.study_id == self.study_id)).one()
                    count = s.exec(
                        select(func.count(Trial.id)).where(
                            Trial.study_id == self.study_id, Trial.state != "interrupted"
                        )
                    ).one()
                    if count >= max_trials:
                        return None
                    row = Trial(
                        study_id=self.study_id,
                        number=(top + 1) if top is not None else 0,
                        trial_id=new_trial_id(),
                        params=dict(params),
                        param_key=key,
                        info=dict(info),
                        worker=WORKER_ID,
                        heartbeat_at=utcnow(),
                    )
                    s.add(row)
                    s.flush()
                    self._start_heartbeat()
                    return self._record(row)
            except IntegrityError:
                continue  # another process took this number (or this key): look again
        raise RuntimeError(f"study {self.name!r}: could not claim a trial number after 50 attempts")

    def _trial_pk(self, trial: TrialRecord) -> int:
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope

        with session_scope(self.url) as s:
            return s.exec(select(Trial.id).where(Trial.trial_id == trial.trial_id)).one()

    def report(self, trial: TrialRecord, step: int, metrics: dict) -> None:
        from hyperfunc_core.storage import TrialReport, session_scope

        pk = trial.info.get("_pk") or self._trial_pk(trial)
        trial.info["_pk"] = pk
        with session_scope(self.url) as s:
            s.add(TrialReport(trial_id=pk, step=step, metrics=metrics))

    def reports(self) -> dict[str, list[dict]]:
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, TrialReport, session_scope

        with session_scope(self.url) as s:
            rows = s.exec(
                select(Trial.trial_id, TrialReport.step, TrialReport.metrics)
                .join(TrialReport, TrialReport.trial_id == Trial.id)
                .where(Trial.study_id == self.study_id)
                .order_by(TrialReport.id)
            ).all()
        out: dict[str, list[dict]] = {}
        for trial_id, step, metrics in rows:
            out.setdefault(trial_id, []).append(dict(metrics, step=step))
        return out

    def finish(self, trial: TrialRecord) -> None:
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope, utcnow

        info = {k: v for k, v in trial.info.items() if not k.startswith("_")}
        with session_scope(self.url) as s:
            row = s.exec(select(Trial).where(Trial.trial_id == trial.trial_id)).one()
            row.state, row.value, row.score = trial.state, trial.value, trial.score
            row.metrics, row.artifacts, row.info, row.error = trial.metrics, trial.artifacts, info, trial.error
            row.finished_at = utcnow()
            s.add(row)

    def recover_interrupted(self) -> int:
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope, utcnow

        host, now = socket.gethostname(), utcnow()
        recovered = 0
        with session_scope(self.url) as s:
            for row in s.exec(select(Trial).where(Trial.study_id == self.study_id, Trial.state == "running")).all():
                if row.worker == WORKER_ID:
                    continue
                worker_host, _, pid = (row.worker or "").rpartition(":")
                dead_here = (
                    worker_host == host and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))
                )
                beat = _aware(row.heartbeat_at or row.started_at)
                silent_s = (now - beat).total_seconds() if beat is not None else 0.0
                if not dead_here and silent_s <= self.stale_after_s:
                    continue
                # Not finished, so neither counted against max_trials nor told to the strategy.
                why = (
                    "its process died before the trial finished"
                    if dead_here
                    else f"its process ({row.worker}) sent no heartbeat for {silent_s:.0f} s"
                )
                row.state, row.error, row.finished_at = "interrupted", why, now
                row.param_key = None  # a unique point that never finished may be run again
                s.add(row)
                recovered += 1
        return recovered

    def running_elsewhere(self) -> int:
        from sqlalchemy import func
        from sqlmodel import select

        from hyperfunc_core.storage import Trial, session_scope

        with session_scope(self.url) as s:
            return s.exec(
                select(func.count(Trial.id)).where(
                    Trial.study_id == self.study_id, Trial.state == "running", Trial.worker != WORKER_ID
                )
            ).one()

    def beat(self) -> int:
        """Refresh the heartbeat of every trial this process is running; how many."""
        from sqlmodel import update

        from hyperfunc_core.storage import Trial, session_scope, utcnow

        with session_scope(self.url) as s:
            done = s.exec(
                update(Trial)
                .where(Trial.study_id == self.study_id, Trial.worker == WORKER_ID, Trial.state == "running")
                .values(heartbeat_at=utcnow())
            )
            return done.rowcount or 0

    def _start_heartbeat(self) -> None:
        if self._beating:
            return
        self._beating = True
        threading.Thread(target=_heartbeat, args=(weakref.ref(self),), name="hyperfunc-heartbeat", daemon=True).start()


def _heartbeat(store_ref: "weakref.ref[SQLStudyStore]") -> None:
    """Beat for the store while it exists; a failed beat (a database hiccup) is tried again next time."""
    while True:
        store = store_ref()
        if store is None:
            return
        interval = store.heartbeat_s
        try:
            store.beat()
        except Exception:  # noqa: BLE001 - the next beat tries again; a long outage makes the trial stale
            pass
        del store
        time.sleep(interval)


def _aware(moment: Any) -> Any:
    """SQLite returns naive datetimes (stored as UTC); make them comparable with ``utcnow()``."""
    from datetime import timezone

    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def space_change(stored: dict | None, space: dict) -> str | None:
    """What differs between a study's stored space and ``space`` (both ``Space.describe()``), or None."""
    if not stored or not space:
        return None  # a study made before spaces were stored, or opened only to read it
    new = json.loads(json.dumps(space))  # the stored one went through JSON: compare like with like
    old_params, new_params = stored.get("params", {}), new.get("params", {})
    parts = [f"{name!r} is new" for name in new_params if name not in old_params]
    parts += [f"{name!r} is gone" for name in old_params if name not in new_params]
    parts += [
        f"{name!r} was {old_params[name]}, now {new_params[name]}"
        for name in new_params
        if name in old_params and old_params[name] != new_params[name]
    ]
    rest = ({k: v for k, v in stored.items() if k != "params"}, {k: v for k, v in new.items() if k != "params"})
    if rest[0] != rest[1]:
        parts.append(f"its structure was {rest[0]}, now {rest[1]}")
    return "; ".join(parts) or None


def open_store(storage: Any) -> StudyStore:
    """``None`` (in memory), a SQLAlchemy URL string, or a StudyStore instance."""
    if storage is None:
        return MemoryStudyStore()
    if isinstance(storage, StudyStore):
        return storage
    if isinstance(storage, str):
        return SQLStudyStore(storage)
    raise InvalidInput(
        f"storage: expected None, a database URL such as 'sqlite:///experiments.db', or a StudyStore, got {storage!r}"
    )


def find_study(url: str, name: str) -> Any:
    """The ``Study`` row named ``name``, or None."""
    from sqlmodel import select

    from hyperfunc_core.storage import Study, session_scope

    with session_scope(url) as s:
        return s.exec(select(Study).where(Study.name == name)).first()


def list_studies(url: str | None) -> list[dict]:
    """Every study with its trial counts by state, best finite monitored value, start and last finish."""
    from sqlalchemy import func
    from sqlmodel import select

    from hyperfunc_core.storage import Study, Trial, session_scope

    with session_scope(url) as s:
        out = []
        for study in s.exec(select(Study).order_by(Study.id)).all():
            counts = dict(
                s.exec(
                    select(Trial.state, func.count(Trial.id)).where(Trial.study_id == study.id).group_by(Trial.state)
                ).all()
            )
            pick = func.max if study.mode == "max" else func.min
            best = s.exec(
                select(pick(Trial.value)).where(
                    Trial.study_id == study.id,
                    Trial.state == "complete",
                    Trial.value > -math.inf,
                    Trial.value < math.inf,
                )
            ).one()
            last_finished = s.exec(select(func.max(Trial.finished_at)).where(Trial.study_id == study.id)).one()
            out.append(
                {
                    "name": study.name,
                    "strategy": study.strategy,
                    "metric": study.metric,
                    "mode": study.mode,
                    "counts": counts,
                    "best": best,
                    "created_at": study.created_at,
                    "last_finished_at": last_finished,
                }
            )
        return out
