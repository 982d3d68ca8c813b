"""The generation loop, written once against a ``StepRunner``: under Prefect (the default, through
``hyperfunc_core.launch``) each generation is a subflow of step tasks; ``orchestrate=False`` runs
the same loop inline.

A generation: select a parent → set up an executor with the parent's patch chain → run the
MetaAgent (its patch and usage are saved before anything else) → evaluate the TaskAgent on
every domain in the workspace → archive. What a resume needs is on disk in the run's
folder: a generation whose metadata says the MetaAgent finished reuses its saved patch, so
a crash after that step never calls the MetaAgent again.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.agents.agent import MetaAgent, TaskAgent
from hyperfunc_core.agents.prompts import scaffold_prompts
from hyperfunc_core.agents.tools import FrameworkTools, Tool
from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.domains.base import Domain
from hyperfunc_core.domains.harness import run_harness
from hyperfunc_core.evolution.archive import (
    PATCH_FILE,
    TRANSCRIPT_FILE,
    ArchiveData,
    ArchiveEntry,
    gen_dir,
    get_patch_files,
    load_archive,
    load_gen_metadata,
    save_gen_metadata,
    update_archive,
)
from hyperfunc_core.evolution.selection import STRATEGIES, select_parent
from hyperfunc_core.executors.base import MODES, Executor, PatchError, check_mode, create_executor
from hyperfunc_core.executors.commands import WorkspaceFiles
from hyperfunc_core.executors.workspace import locate_source
from hyperfunc_core.llm import BudgetExceededError
from hyperfunc_core.observability import telemetry
from hyperfunc_core.reports import Report, evolution_report
from hyperfunc_core.steps import StepFailed, StepRunner
from hyperfunc_core.validation import InvalidInput

INITIAL = "initial"


@dataclass
class GenerateLoopConfig:
    domains: list[Domain]
    meta_agent: MetaAgent
    task_agent_factory: Callable[[list[Tool]], TaskAgent]
    tools: FrameworkTools | None = None
    output_dir: str = "./outputs/evolution"
    repo_path: str = "."
    max_generations: int = 5
    execution_mode: str = "auto"  # the strongest that starts here: docker, then sandbox, then local
    parent_selection: str = "score_child_prop"
    eval_samples: int | None = 10
    eval_repeats: int = 1  # evaluate each generation this many times: LLM sampling makes one score noisy
    prompts_dir: str | None = None
    base_commit: str = "HEAD"
    seed: int = 0
    budget_usd: float | None = None
    run_name: str | None = None
    storage: str | None = None
    executor_options: dict = field(default_factory=dict)
    # How a worker rebuilds this config from plain values (``jobs.evolve_domain`` writes one); None: the
    # agents are objects of this process, and only it can run the loop.
    spec: dict | None = None

    def __post_init__(self) -> None:
        if not self.domains or not all(isinstance(d, Domain) for d in self.domains):
            raise InvalidInput("domains: expected a non-empty list of Domain instances")
        if not isinstance(self.meta_agent, MetaAgent):
            raise InvalidInput(f"meta_agent: expected a MetaAgent, got {self.meta_agent!r}")
        if not callable(self.task_agent_factory):
            raise InvalidInput("task_agent_factory: expected a callable tools -> TaskAgent")
        if (
            isinstance(self.max_generations, bool)
            or not isinstance(self.max_generations, int)
            or self.max_generations < 0
        ):
            raise InvalidInput(f"max_generations: expected an integer >= 0, got {self.max_generations!r}")
        if self.parent_selection not in STRATEGIES:
            raise InvalidInput(
                f"parent_selection: expected one of {', '.join(STRATEGIES)}, got {self.parent_selection!r}"
            )
        if self.execution_mode not in ("auto", *MODES):
            raise InvalidInput(
                f"execution_mode: expected 'auto', 'local', 'sandbox' or 'docker', got {self.execution_mode!r}"
            )
        if not isinstance(self.base_commit, str) or not self.base_commit:
            raise InvalidInput(f"base_commit: expected a commit (a SHA, a branch or HEAD), got {self.base_commit!r}")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise InvalidInput(f"budget_usd: expected a number >= 0 or None, got {self.budget_usd!r}")
        if self.tools is not None and not isinstance(self.tools, FrameworkTools):
            raise InvalidInput("tools: expected get_framework_tools() (the MetaAgent's bash and editor)")
        if self.tools is not None:
            own = self.meta_agent.options.tools
            if isinstance(own, FrameworkTools) and own is not self.tools:
                raise InvalidInput(
                    "tools: the MetaAgent already has its bash and editor (AgentOptions.tools); give them once"
                )
            self.meta_agent.framework = self.tools  # the MetaAgent's bash and editor, beside any extra tools
        if (
            isinstance(self.eval_samples, bool)
            or self.eval_samples is not None
            and (not isinstance(self.eval_samples, int) or self.eval_samples < 1)
        ):
            raise InvalidInput(
                f"eval_samples: expected an integer >= 1 or None (every task), got {self.eval_samples!r}"
            )
        if isinstance(self.eval_repeats, bool) or not isinstance(self.eval_repeats, int) or self.eval_repeats < 1:
            raise InvalidInput(f"eval_repeats: expected an integer >= 1, got {self.eval_repeats!r}")
        out = Path(self.output_dir)
        if out.exists() and not out.is_dir():
            raise InvalidInput(
                f"output_dir: {out} is a file; expected a folder for the run (or a path that does not exist yet)"
            )
        if self.storage is not None:
            from hyperfunc_core.storage.engine import check_url

            check_url(self.storage)


@dataclass
class LoopResult:
    output_dir: str
    archive: ArchiveData
    best_gen: str | None
    best_score: float | None
    stop_reason: str
    cost_usd: float
    generations_run: list[str]
    report: str | None = None  # report.md in output_dir
    execution: str | None = None  # the executor mode that ran the generations, and what it is


@dataclass
class GenerationOutcome:
    gen_id: str
    parent_id: str | None
    scores: dict[str, float]
    valid: bool
    error: str | None
    usage: dict


RUN_FILE = "run.json"  # what a resume and a replay must reuse: the pinned base commit, the mode


def read_run_file(output_dir: Path) -> dict:
    """What the run recorded when it started (``run.json``); empty for a new run."""
    try:
        recorded = json.loads((output_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def pin_base_commit(recorded: dict, repo_path: str, base_commit: str) -> str:
    """The run's base commit as a full SHA: the one recorded when the run started, on every resume.

    A new commit in the user's repository (or a moved branch) never changes the base under
    later generations. A resume whose recorded commit is gone from the repository, or that
    names a different base, fails here, before any work.
    """
    recorded = recorded.get("base_commit")
    if recorded is None:
        return locate_source(repo_path, base_commit).commit
    locate_source(repo_path, "HEAD")  # a folder that is gone, or no repository, is named as such first
    try:
        locate_source(repo_path, recorded)
    except ValueError:
        raise InvalidInput(
            f"base_commit: this run started from commit {recorded}, which is no longer in "
            f"{Path(repo_path).resolve()}; restore it (git fetch, or undo the rewrite) or start a new "
            f"run in another output_dir"
        ) from None
    if base_commit != "HEAD" and locate_source(repo_path, base_commit).commit != recorded:
        raise InvalidInput(
            f"base_commit: this run started from commit {recorded}; {base_commit!r} is another commit "
            f"(start a new run in another output_dir for another base)"
        )
    return recorded


def refuse_changed_run(output_dir: Path, recorded: dict, identity: dict) -> None:
    """A resume must evaluate what the run evaluated: the same repository, domains and sample size.

    Scores of generations made under other settings cannot be compared (or used to choose
    parents) with new ones; a changed setting is refused before any work, naming it.
    """
    changed = [
        f"{key} was {recorded[key]!r}, now {value!r}"
        for key, value in identity.items()
        if key in recorded and recorded[key] != value
    ]
    if changed:
        raise InvalidInput(
            f"output_dir: the run in {output_dir} was started with other settings ({'; '.join(changed)});"
            f" its scores cannot be compared with new ones: use another output_dir"
        )


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2))


def run_label(name: str) -> str:
    """The short name an evolution run goes by in Prefect: its folder's name when it is named by its folder."""
    return Path(name).name


class EvolutionLoop:
    """The loop's state and steps; every step is a plain method a task can wrap."""

    def __init__(self, config: GenerateLoopConfig) -> None:
        self.config = config
        self.output_dir = Path(config.output_dir).resolve()
        # Checked before anything is written: the mode can start here, the base commit is (still) there.
        self.execution_mode, self.execution_detail = check_mode(config.execution_mode, config.executor_options)
        recorded = read_run_file(self.output_dir)
        self.base_commit = pin_base_commit(recorded, config.repo_path, config.base_commit)
        identity = {
            "repo_path": str(Path(config.repo_path).resolve()),
            "domains": [d.config.name for d in config.domains],
            "eval_samples": config.eval_samples,
            "eval_repeats": config.eval_repeats,
        }
        refuse_changed_run(self.output_dir, recorded, identity)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        _write_json(
            self.output_dir / RUN_FILE,
            {
                "base_commit": self.base_commit,
                **identity,
                "execution_mode": self.execution_mode,
                "execution": self.execution_detail,
            },
        )
        self.archive = load_archive(self.output_dir)
        if config.prompts_dir:
            prompts = Path(config.prompts_dir)
            if prompts.is_absolute():
                scaffold_prompts(prompts)
            if config.meta_agent.options.prompt_file is None:
                config.meta_agent.options.prompt_file = str(prompts / "meta_agent.txt")
        self.generations_run: list[str] = []
        self._span: Any = None  # the current generation's span, while one is observed
        self.report: Report | None = None
        self.finished: LoopResult | None = None
        self.name = config.run_name or str(self.output_dir)  # its row in the database
        self.run_id = self._open_run()
        self.show_progress = False  # a live bar in this terminal (the CLI's; not part of the run)

    # -- the loop's decisions ----------------------------------------------------------
    @property
    def cost_usd(self) -> float:
        total = 0.0
        for folder in self.output_dir.glob("gen_*"):
            total += float(load_gen_metadata(self.output_dir, folder.name[4:]).get("usage", {}).get("cost_usd", 0.0))
        return total

    def next_gen_id(self) -> str:
        numbers = [int(g) for g in self.archive.archive if str(g).isdigit()]
        return str(max(numbers, default=0) + 1)

    def stop_reason(self) -> str | None:
        """Why the loop should stop before the next generation, or None to go on."""
        best = self.archive.best()
        if best is not None and best.score is not None and best.score >= 1.0:
            return "perfect score"
        if self.archive.archive and not any(self.archive.entry(g).valid_parent for g in self.archive.archive):
            return "no valid parent"  # every generation so far failed (its error is in the archive)
        if int(self.next_gen_id()) > self.config.max_generations:
            return "max generations"
        if self.config.budget_usd is not None and self.cost_usd >= self.config.budget_usd:
            return "budget"
        return None

    # -- steps -------------------------------------------------------------------------
    def select(self, gen_id: str) -> str | None:
        """The parent of ``gen_id`` (None for the initial generation); kept in its metadata."""
        meta = load_gen_metadata(self.output_dir, gen_id)
        if "parent_genid" in meta:  # resumed: the choice was made before the crash
            return meta["parent_genid"]
        parent = (
            None
            if gen_id == INITIAL
            else select_parent(
                self.archive, self.config.parent_selection, random.Random(f"{self.config.seed}-{gen_id}")
            )
        )
        save_gen_metadata(
            self.output_dir,
            gen_id,
            {
                "gen_id": gen_id,
                "parent_genid": parent,
                "run_eval": False,
                "meta_agent_done": False,
                "prev_patch_files": get_patch_files(self.output_dir, parent) if parent is not None else [],
                "curr_patch_files": [],
                "started_at": time.time(),
                "execution_mode": self.execution_mode,
                "base_commit": self.base_commit,
            },
        )
        return parent

    def open_executor(self, gen_id: str) -> Executor:
        """A workspace with the parent's patch chain (and this generation's saved patch, on resume)."""
        # on resume: with this generation's saved patch
        return open_workspace(self._make_executor(), get_patch_files(self.output_dir, gen_id), self.config.prompts_dir)

    def improve(self, gen_id: str, parent_id: str, executor: Executor) -> dict:
        """Run the MetaAgent in the workspace, unless it already ran for this generation."""
        meta = load_gen_metadata(self.output_dir, gen_id)
        if meta.get("meta_agent_done"):
            return meta.get("meta_agent", {})
        evals = {
            d.config.name: executor.expose(str(gen_dir(self.output_dir, parent_id) / f"{d.config.name}_eval"))
            for d in self.config.domains
        }
        entry = self.archive.entry(parent_id)
        left = self.config.max_generations - int(gen_id)
        history = self.history_context(parent_id, evals)
        run = run_coroutine(
            self.config.meta_agent.arun(executor.get_workdir(), next(iter(evals.values())), entry.score, left, history)
        )
        patch = executor.diff()
        patch_path = gen_dir(self.output_dir, gen_id) / PATCH_FILE
        patch_path.parent.mkdir(parents=True, exist_ok=True)
        patch_path.write_text(patch)
        _write_json(
            gen_dir(self.output_dir, gen_id) / TRANSCRIPT_FILE,
            {
                "parent": parent_id,
                "history": history,
                "output": run.output,
                "steps": run.steps,
                "usage": run.usage,
                "transcript": run.transcript,
            },
        )
        summary = {
            "output": run.output[:2000],
            "steps": run.steps,
            "tool_calls": len(run.tool_calls),
            "usage": run.usage,
        }
        meta.update(
            meta_agent_done=True,
            curr_patch_files=[str(patch_path)],
            meta_agent=summary,
            usage=_add(meta.get("usage", {}), run.usage),
        )
        save_gen_metadata(self.output_dir, gen_id, meta)
        return summary

    def history_context(self, parent_id: str, evals: dict[str, str]) -> str:
        """What the MetaAgent reads besides the first domain's results: where every domain's results are,
        with the parent's score there, and the scores of the parent's lineage, root first."""

        def percent(score: float | None) -> str:
            return "n/a" if score is None else f"{score * 100:.1f}%"

        parent = self.archive.entry(parent_id)
        lines = ["Evaluation results of the current version, per domain:"]
        for name, path in evals.items():
            lines.append(f"- {name}: {path} (score {percent(parent.scores.get(name))})")
        lineage, at = [], parent_id
        while at is not None:
            node = self.archive.entry(at)
            lineage.append(f"gen {node.gen_id}: {percent(node.score)}")
            at = node.parent_id
        lines.append("Scores along this version's lineage, root first: " + ", ".join(reversed(lineage)) + ".")
        return "\n".join(lines)

    def evaluate(self, gen_id: str, executor: Executor) -> dict[str, float]:
        """The TaskAgent on every domain, in the workspace; reports under ``gen_<id>/<domain>_eval``.

        A generation whose evaluation finished keeps its recorded scores: a resume (after a torn
        archive line, say) never evaluates it again, so a finished score is never recomputed."""
        recorded = load_gen_metadata(self.output_dir, gen_id)
        if recorded.get("run_eval") and isinstance(recorded.get("scores"), dict):
            return dict(recorded["scores"])
        spent: dict = {}
        spreads: dict = {}
        scores = None
        try:
            scores, _ = evaluate_workspace(
                self.config.domains,
                self.config.task_agent_factory,
                executor.get_workdir(),
                gen_dir(self.output_dir, gen_id),
                self.config.eval_samples,
                self.config.prompts_dir,
                spent,
                repeats=self.config.eval_repeats,
                spreads=spreads,
            )
        finally:  # what the evaluation spent (retries included) is kept even when it failed
            meta = load_gen_metadata(self.output_dir, gen_id)
            meta["usage"] = _add(meta.get("usage", {}), spent)
            if scores is not None:
                meta.update(run_eval=True, scores=scores)
                if self.config.eval_repeats > 1:
                    meta.update(score_spread=spreads, eval_repeats=self.config.eval_repeats)
            save_gen_metadata(self.output_dir, gen_id, meta)
        return scores

    def record(self, gen_id: str, scores: dict[str, float], valid: bool, error: str | None = None) -> GenerationOutcome:
        """Append the generation to the archive (and mirror it to the database)."""
        meta = load_gen_metadata(self.output_dir, gen_id)
        meta.update(valid_parent=valid, error=error, finished_at=time.time())
        save_gen_metadata(self.output_dir, gen_id, meta)
        entry = ArchiveEntry(
            gen_id,
            meta.get("parent_genid"),
            get_patch_files(self.output_dir, gen_id),
            scores,
            {
                "usage": meta.get("usage", {}),
                "error": error,
                **{key: meta[key] for key in ("score_spread", "eval_repeats") if key in meta},
            },
            valid,
        )
        self.archive = update_archive(self.output_dir, self.archive, entry)
        self.generations_run.append(gen_id)
        telemetry.set_attributes(
            self._span,
            parent_id=entry.parent_id,
            score=entry.score,
            valid_parent=valid,
            error=error,
            cost_usd=meta.get("usage", {}).get("cost_usd"),
        )
        self._mirror(entry, meta)
        return GenerationOutcome(gen_id, entry.parent_id, scores, valid, error, meta.get("usage", {}))

    @contextmanager
    def observed(self, gen_id: str) -> Iterator[Any]:
        """The generation's OpenTelemetry span (and duration metric); its outcome is set by ``record``."""
        started = time.perf_counter()
        with telemetry.span("evolution.generation", gen_id=gen_id, output_dir=str(self.output_dir)) as current:
            self._span = current
            try:
                yield current
            finally:
                self._span = None
                telemetry.record("generation", self.output_dir.name, time.perf_counter() - started, True)

    def run(self, runner: StepRunner, on_generation: Callable[[GenerationOutcome], None] | None = None) -> str:
        """Generations until a perfect score, ``max_generations``, no valid parent or the budget;
        returns why it stopped. A resumed run goes on from its archive."""
        gen_id = INITIAL if INITIAL not in self.archive.entries else None
        display = _Display(self) if self.show_progress else None
        try:
            while gen_id is not None or (reason := self.stop_reason()) is None:
                gen_id = gen_id or self.next_gen_id()
                if display is not None:
                    display.update(f"running generation {gen_id}")
                try:
                    outcome = runner.stage(
                        "evolution-generation", self.run_generation, gen_id, runner, label=f"gen-{gen_id}"
                    )
                except BudgetExceededError:
                    return "budget"
                if on_generation is not None:
                    on_generation(outcome)
                gen_id = None
            return reason
        except KeyboardInterrupt:
            self._set_status("interrupted")  # not "running": resumed by running it again
            raise
        finally:
            if display is not None:
                display.close(self.stop_reason())

    def run_generation(self, gen_id: str, runner: StepRunner) -> GenerationOutcome:
        """select parent → executor with the patch chain → MetaAgent → evaluate → archive.

        A generation that failed (its patch, MetaAgent or evaluation) is archived as not a valid
        parent and raises ``StepFailed`` with its outcome, so the runner shows it failed."""
        with self.observed(gen_id):
            outcome = self._run_generation(gen_id, runner)
        if outcome.error:
            raise StepFailed(f"generation {gen_id}: {outcome.error}", outcome)
        return outcome

    def _run_generation(self, gen_id: str, runner: StepRunner) -> GenerationOutcome:
        label = f"gen-{gen_id}"
        parent = runner.run("select-parent", self.select, gen_id, label=f"{label}-select-parent")
        try:
            executor = runner.run("setup-executor", self.open_executor, gen_id, label=f"{label}-setup-executor")
        except PatchError as exc:
            return runner.run("archive", self.record, gen_id, {}, False, f"patch: {exc}", label=f"{label}-archive")
        try:
            if parent is not None:
                try:
                    runner.run("meta-agent", self.improve, gen_id, parent, executor, label=f"{label}-meta-agent")
                except BudgetExceededError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a crashed MetaAgent: recorded, the loop goes on
                    return runner.run(
                        "archive",
                        self.record,
                        gen_id,
                        {},
                        False,
                        f"meta agent: {type(exc).__name__}: {exc}",
                        label=f"{label}-archive",
                    )
            try:
                scores = runner.run("evaluate", self.evaluate, gen_id, executor, label=f"{label}-evaluate")
            except BudgetExceededError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a tool file the MetaAgent broke on import
                return runner.run(
                    "archive",
                    self.record,
                    gen_id,
                    {},
                    False,
                    f"evaluate: {type(exc).__name__}: {exc}",
                    label=f"{label}-archive",
                )
            return runner.run("archive", self.record, gen_id, scores, True, label=f"{label}-archive")
        finally:
            executor.cleanup()

    def write_report(self, stop_reason: str | None) -> Report:
        """``report.md`` and ``archive_tree.png`` in the run's folder."""
        self.report = evolution_report(
            self.output_dir,
            stop_reason,
            self.cost_usd,
            self.archive,
            execution=self.execution_detail,
            base_commit=self.base_commit,
        )
        return self.report

    def result(self, stop_reason: str) -> LoopResult:
        """Close the run (once) and say how it ended."""
        if self.finished is None:
            best = self.archive.best()
            self._close_run(stop_reason)
            report = self.report or self.write_report(stop_reason)
            self.finished = LoopResult(
                str(self.output_dir),
                self.archive,
                str(best.gen_id) if best else None,
                best.score if best else None,
                stop_reason,
                self.cost_usd,
                list(self.generations_run),
                str(report.path),
                self.execution_detail,
            )
        return self.finished

    # -- internals ---------------------------------------------------------------------
    def _make_executor(self) -> Executor:
        options = {"repoPath": self.config.repo_path, "baseCommit": self.base_commit, **self.config.executor_options}
        return create_executor(self.execution_mode, options)

    def _open_run(self) -> int | None:
        from sqlmodel import select

        from hyperfunc_core.storage import session_scope
        from hyperfunc_core.storage.models import EvolutionRun

        name = self.name
        with session_scope(self.config.storage) as session:
            run = session.exec(select(EvolutionRun).where(EvolutionRun.name == name)).first()
            if run is None:
                run = EvolutionRun(
                    name=name,
                    output_dir=str(self.output_dir),
                    config={
                        "max_generations": self.config.max_generations,
                        "parent_selection": self.config.parent_selection,
                        "domains": [d.config.name for d in self.config.domains],
                        "model": self.config.meta_agent.gateway.model,
                        "repo_path": str(Path(self.config.repo_path).resolve()),
                        "base_commit": self.base_commit,
                        "prompts_dir": self.config.prompts_dir,
                        "eval_samples": self.config.eval_samples,
                        "eval_repeats": self.config.eval_repeats,
                        "execution_mode": self.execution_mode,
                    },
                    spec=self.config.spec or {"in_process": ["agents and domains given as objects"]},
                )
            run.config = {**run.config, "execution_mode": self.execution_mode}  # the mode of this start
            run.status = "running"
            session.add(run)
            session.commit()
            session.refresh(run)
            return run.id

    def _mirror(self, entry: ArchiveEntry, meta: dict) -> None:
        from sqlmodel import select

        from hyperfunc_core.storage import session_scope
        from hyperfunc_core.storage.models import Generation

        usage = meta.get("usage", {})
        with session_scope(self.config.storage) as session:
            row = session.exec(
                select(Generation).where(Generation.run_id == self.run_id, Generation.gen_id == str(entry.gen_id))
            ).first()
            row = row or Generation(run_id=self.run_id, gen_id=str(entry.gen_id))
            row.parent_id = None if entry.parent_id is None else str(entry.parent_id)
            row.status, row.valid_parent = ("finished" if entry.valid_parent else "failed"), entry.valid_parent
            row.score, row.scores, row.patch_files, row.error = (
                entry.score,
                entry.scores,
                entry.patch_files,
                meta.get("error"),
            )
            row.prompt_tokens = int(usage.get("prompt_tokens", 0))
            row.completion_tokens = int(usage.get("completion_tokens", 0))
            row.cost_usd = float(usage.get("cost_usd", 0.0))
            session.add(row)
            session.commit()

    def _set_status(self, status: str) -> None:
        from hyperfunc_core.storage import session_scope
        from hyperfunc_core.storage.models import EvolutionRun

        with session_scope(self.config.storage) as session:
            run = session.get(EvolutionRun, self.run_id)
            if run is not None:
                run.status = status
                session.add(run)
                session.commit()

    def _close_run(self, stop_reason: str) -> None:
        from hyperfunc_core.storage import session_scope
        from hyperfunc_core.storage.models import EvolutionRun, utcnow

        best = self.archive.best()
        with session_scope(self.config.storage) as session:
            run = session.get(EvolutionRun, self.run_id)
            if run is None:
                return
            totals = {"prompt_tokens": 0, "completion_tokens": 0}
            for g in self.archive.archive:
                usage = self.archive.entry(g).metadata.get("usage", {})
                for k in totals:
                    totals[k] += int(usage.get(k, 0))
            run.status, run.finished_at = f"finished: {stop_reason}", utcnow()
            run.best_score = best.score if best else None
            run.prompt_tokens, run.completion_tokens, run.cost_usd = (
                totals["prompt_tokens"],
                totals["completion_tokens"],
                self.cost_usd,
            )
            session.add(run)
            session.commit()


def run_generate_loop(config: GenerateLoopConfig, orchestrate: bool = True, show_progress: bool = False) -> LoopResult:
    """Evolve the repository's agent for up to ``max_generations`` (a Prefect flow by default;
    ``orchestrate=False`` runs the same loop without Prefect; ``show_progress``: a live bar in this
    terminal)."""
    from hyperfunc_core import launch

    if not isinstance(config, GenerateLoopConfig):
        raise InvalidInput(f"config: expected a GenerateLoopConfig, got {config!r}")
    config.meta_agent.gateway.check_configured("meta_agent")
    loop = EvolutionLoop(config)
    loop.show_progress = show_progress
    return launch.run_evolution(loop, orchestrate=orchestrate)


class _Display:
    """The run's live bar: generations done/total, ETA, the best so far, failed generations, cost."""

    def __init__(self, loop: EvolutionLoop) -> None:
        from hyperfunc_core.live_display import LiveDisplay

        self.loop = loop
        self.total = loop.config.max_generations + 1  # the initial generation, then max_generations
        self.live = LiveDisplay(
            f"evolution {run_label(loop.name)}", self.total, "generations", done=len(loop.archive.archive)
        )

    def update(self, doing: str) -> None:
        archive = self.loop.archive
        best = archive.best()
        failed = sum(not archive.entry(g).valid_parent for g in archive.archive)
        best_text = "best n/a" if best is None or best.score is None else f"best {best.score:.3f} (gen {best.gen_id})"
        self.live.update(
            len(archive.archive),
            f"{doing} | {best_text} | failed {failed} | cost ${self.loop.cost_usd:.4f}",
        )

    def close(self, stopped: str | None) -> None:
        """The bar ends full when the loop stopped early for a reason (a perfect score, the budget)."""
        done = len(self.loop.archive.archive)
        self.update(f"stopped: {stopped}" if stopped else "stopped")
        if stopped:
            self.live.update(done, total=done, status=self.live.status.plain.strip())
        self.live.close()


def open_workspace(executor: Executor, patch_files: list[str], prompts_dir: str | None) -> Executor:
    """``executor`` set up with ``patch_files``, prompt files scaffolded where ``prompts_dir`` (relative) says;
    cleaned up again if that fails."""
    try:
        executor.setup(patch_files)
        if prompts_dir and not Path(prompts_dir).is_absolute():
            scaffold_prompts(prompts_dir, WorkspaceFiles(executor.get_workdir()))
    except BaseException:
        executor.cleanup()
        raise
    return executor


def evaluate_workspace(
    domains: list[Domain],
    task_agent_factory: Callable[[list[Tool]], TaskAgent],
    workdir: str | Path,
    out_root: Path,
    eval_samples: int | None,
    prompts_dir: str | None,
    spent: dict | None = None,
    repeats: int = 1,
    spreads: dict | None = None,
) -> tuple[dict[str, float], dict]:
    """The TaskAgent on every domain in ``workdir``; results under ``out_root/<domain>_eval``; (scores, usage).

    ``spent`` (a dict) is kept up to date as each domain finishes, failed ones included, so a
    failed evaluation's LLM use and retries are still recorded by the caller. With ``repeats``,
    each domain is evaluated that many times (the later ones under ``<domain>_eval_repeat_<k>``):
    its score is the mean, and ``spreads`` (a dict) gets each domain's standard deviation."""
    workdir = Path(workdir)
    scores, usage = {}, {}
    spent = {} if spent is None else spent
    for domain in domains:
        runs = []
        for k in range(repeats):
            folder = f"{domain.config.name}_eval" + (f"_repeat_{k}" if k else "")
            summary, usage = _evaluate_domain(
                domain, task_agent_factory, workdir, out_root / folder, eval_samples, prompts_dir, usage, spent
            )
            runs.append(summary.average_score)
        scores[domain.config.name] = statistics.fmean(runs)
        if spreads is not None:
            spreads[domain.config.name] = statistics.pstdev(runs)
    return scores, usage


def _evaluate_domain(
    domain: Domain,
    task_agent_factory: Callable[[list[Tool]], TaskAgent],
    workdir: Path,
    out: Path,
    eval_samples: int | None,
    prompts_dir: str | None,
    usage: dict,
    spent: dict,
) -> tuple[Any, dict]:
    """One evaluation of one domain; (its summary, the usage so far)."""
    domain.bind_workspace(workdir)
    agent = task_agent_factory(domain.tools(workdir))
    if not isinstance(agent, TaskAgent):
        raise InvalidInput(f"task_agent_factory: expected it to return a TaskAgent, got {agent!r}")
    agent.workdir = workdir
    if prompts_dir and agent.options.prompt_file is None:
        agent.options.prompt_file = str(Path(prompts_dir) / "task_agent.txt")
    before = agent.gateway.usage.as_dict()
    try:
        summary = run_coroutine(run_harness(domain, agent, out, num_samples=eval_samples))
    finally:
        usage = _add(usage, agent.gateway.usage.since(before))
        spent.update(usage)
    return summary, usage


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}
