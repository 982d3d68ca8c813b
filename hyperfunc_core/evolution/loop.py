"""The generation loop, written once against a ``StepRunner``: under Prefect (the default, through
``hyperfunc_core.launch``) each generation is a subflow of step tasks; ``orchestrate=False`` runs
the same loop inline.

A generation is ``children_per_generation`` children, run concurrently, each: select a parent →
set up an executor with the parent's patch chain → run the MetaAgent (its patch, transcript and
usage are saved before anything else) → a staged evaluation of the TaskAgent in the workspace
(``evaluation.py``: smoke check, optional sample, then train and validation) → archive. When the
loop stops, the best generation by validation is scored once on test. What a resume needs is on
disk in the run's folder: a child whose metadata says the MetaAgent finished reuses its saved
patch, so a crash after that step never calls the MetaAgent again.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import copy
import json
import math
import random
import statistics
import threading
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
from hyperfunc_core.evolution.archive import (
    PATCH_FILE,
    TRANSCRIPT_FILE,
    ArchiveData,
    ArchiveEntry,
    eval_folder,
    gen_dir,
    get_patch_files,
    load_archive,
    load_gen_metadata,
    save_gen_metadata,
    update_archive,
)
from hyperfunc_core.evolution.evaluation import (
    TEST,
    TRAIN,
    VALIDATION,
    SmokeCheckFailed,
    WorkspaceScorer,
    add_usage,
    has_split,
    planned_tasks,
    selection_scores,
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
    children_per_generation: int = 1  # MetaAgent attempts per generation, run concurrently
    smoke_check: bool = True  # a child whose agent does not run is archived without an evaluation
    staged_sample: float | None = None  # evaluate this share of the train tasks first (e.g. 0.1); None: off
    staged_threshold: float = 1.0  # ... and go on only at this fraction of the parent's score on them
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
        for name in ("eval_repeats", "children_per_generation"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name}: expected an integer >= 1, got {value!r}")
        if self.staged_sample is not None and (
            isinstance(self.staged_sample, bool)
            or not isinstance(self.staged_sample, (int, float))
            or not 0 < self.staged_sample <= 1
        ):
            raise InvalidInput(
                f"staged_sample: expected a share of the train tasks in (0, 1] or None, got {self.staged_sample!r}"
            )
        if (
            isinstance(self.staged_threshold, bool)
            or not isinstance(self.staged_threshold, (int, float))
            or self.staged_threshold < 0
        ):
            raise InvalidInput(
                f"staged_threshold: expected a number >= 0 (a fraction of the parent's sample score), "
                f"got {self.staged_threshold!r}"
            )
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
    test: dict | None = None  # the best generation's score on the test split, taken once (test.json)


@dataclass
class GenerationOutcome:
    gen_id: str
    parent_id: str | None
    scores: dict[str, float]
    valid: bool
    error: str | None
    usage: dict


# What a generation's archive entry keeps from its metadata besides usage and error.
ARCHIVED_METADATA = ("score_spread", "eval_repeats", "split_scores", "staging")

RUN_FILE = "run.json"  # what a resume and a replay must reuse: the pinned base commit, the mode
TEST_FILE = "test.json"  # the best generation's one test-split evaluation


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
            "children_per_generation": config.children_per_generation,
            "splits": {d.config.name: d.split_sizes() for d in config.domains},
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
        self._local = threading.local()  # each child's span, while it is observed (children run in threads)
        self._archive_lock = threading.Lock()
        self._children_pool: cf.ThreadPoolExecutor | None = None
        self.report: Report | None = None
        self.finished: LoopResult | None = None
        self.name = config.run_name or str(self.output_dir)  # its row in the database
        self.run_id = self._open_run()
        self.show_progress = False  # a live bar in this terminal (the CLI's; not part of the run)

    # -- the loop's decisions ----------------------------------------------------------
    @property
    def cost_usd(self) -> float:
        total = float(self.tested().get("usage", {}).get("cost_usd", 0.0))
        for folder in self.output_dir.glob("gen_*"):
            total += float(load_gen_metadata(self.output_dir, folder.name[4:]).get("usage", {}).get("cost_usd", 0.0))
        return total

    @property
    def planned_generations(self) -> int:
        """The initial generation and every child of ``max_generations`` generations."""
        return 1 + self.config.max_generations * self.config.children_per_generation

    def round_of(self, gen_id: str) -> int:
        """Which generation a child belongs to: children 1..N are generation 1, N+1..2N generation 2."""
        return 0 if gen_id == INITIAL else math.ceil(int(gen_id) / self.config.children_per_generation)

    def next_round(self) -> tuple[int, list[str]]:
        """The first generation with a child not archived yet, and those children (on a resume, only
        the ones a crash left unfinished)."""
        width, done = self.config.children_per_generation, {str(g) for g in self.archive.archive}
        number = 1
        while all(str(i) in done for i in range(width * (number - 1) + 1, width * number + 1)):
            number += 1
        return number, [str(i) for i in range(width * (number - 1) + 1, width * number + 1) if str(i) not in done]

    def stop_reason(self) -> str | None:
        """Why the loop should stop before the next generation, or None to go on."""
        best = self.archive.best()
        if best is not None and best.score is not None and best.score >= 1.0:
            return "perfect score"
        if self.archive.archive and not any(self.archive.entry(g).valid_parent for g in self.archive.archive):
            return "no valid parent"  # every generation so far failed (its error is in the archive)
        if self.next_round()[0] > self.config.max_generations:
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
                self.archive_before(gen_id), self.config.parent_selection, random.Random(f"{self.config.seed}-{gen_id}")
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

    def started_children(self) -> list[str]:
        """Children a crash left unfinished: started (they have metadata), not archived. A resume finishes
        them before it asks whether to go on, so no started MetaAgent's work is dropped."""
        _, pending = self.next_round()
        return [g for g in pending if load_gen_metadata(self.output_dir, g)]

    def archive_before(self, gen_id: str) -> ArchiveData:
        """The archive as the child's generation found it: siblings never parent each other, and a resumed
        child chooses among the same generations as it would have before the crash."""
        earlier = [g for g in self.archive.archive if self.round_of(str(g)) < self.round_of(gen_id)]
        return ArchiveData(earlier, {str(g): self.archive.entry(g) for g in earlier})

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
            d.config.name: executor.expose(str(gen_dir(self.output_dir, parent_id) / eval_folder(d.config.name)))
            for d in self.config.domains
        }
        train_score = self.archive.entry(parent_id).mean_on(TRAIN)
        left = self.config.max_generations - self.round_of(gen_id)
        history = self.history_context(parent_id, evals)
        agent = copy.copy(self.config.meta_agent)  # its own workdir; the gateway (budget, pace) is shared
        run = run_coroutine(agent.arun(executor.get_workdir(), next(iter(evals.values())), train_score, left, history))
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
            usage=add_usage(meta.get("usage", {}), run.usage),
        )
        save_gen_metadata(self.output_dir, gen_id, meta)
        return summary

    def history_context(self, parent_id: str, evals: dict[str, str]) -> str:
        """What the MetaAgent reads besides the first domain's results: where every domain's results are,
        with the parent's score there, and the scores of the parent's lineage, root first. Train scores
        only: validation chooses parents, and a MetaAgent that saw it would be fitted to it."""

        def percent(score: float | None) -> str:
            return "n/a" if score is None else f"{score * 100:.1f}%"

        parent = self.archive.entry(parent_id)
        lines = ["Evaluation results of the current version, per domain:"]
        for name, path in evals.items():
            lines.append(f"- {name}: {path} (score {percent(parent.split_scores(TRAIN).get(name))})")
        lineage, at = [], parent_id
        while at is not None:
            node = self.archive.entry(at)
            lineage.append(f"gen {node.gen_id}: {percent(node.mean_on(TRAIN))}")
            at = node.parent_id
        lines.append("Scores along this version's lineage, root first: " + ", ".join(reversed(lineage)) + ".")
        return "\n".join(lines)

    def evaluate(self, gen_id: str, executor: Executor) -> dict:
        """The child's staged evaluation in ``executor``'s workspace: ``{"scores", "valid", "error"}``.

        The smoke check (when on), then the sample (a child, when ``staged_sample`` is set), then
        train and validation; results under ``gen_<id>/<domain>_eval*``, and what the staging ran
        and saved in the metadata's ``staging``. A finished evaluation keeps its recorded verdict: a
        resume never evaluates it again, so a finished score is never recomputed."""
        recorded = load_gen_metadata(self.output_dir, gen_id)
        if isinstance(recorded.get("verdict"), dict):
            return dict(recorded["verdict"])
        if recorded.get("run_eval") and isinstance(recorded.get("scores"), dict):  # finished before verdicts
            return {"scores": dict(recorded["scores"]), "valid": True, "error": None}
        config = self.config
        scorer = self._scorer(executor, gen_id)
        parent = recorded.get("parent_genid")
        staging: dict = {}
        spreads: dict = {}
        by_split: dict | None = None
        verdict: dict | None = None
        try:
            if config.smoke_check:
                try:
                    scorer.smoke_check()
                    staging["smoke"] = "passed"
                except SmokeCheckFailed as exc:
                    staging["smoke"] = "failed"
                    verdict = {"scores": {}, "valid": False, "error": f"smoke check: {exc}"}
            if verdict is None and parent is not None and config.staged_sample:
                child, before = scorer.sample(
                    config.staged_sample, config.eval_samples, gen_dir(self.output_dir, parent)
                )
                passed = child >= config.staged_threshold * before - 1e-9
                staging["sample"] = {"score": child, "parent": before, "threshold": config.staged_threshold}
                staging["sample"]["passed"] = passed
                if not passed:  # not a failure: a child that would not beat its parent, not worth a full run
                    verdict = {"scores": {}, "valid": False, "error": None}
            staging["check_tasks"] = scorer.tasks_run
            if verdict is None:
                by_split = scorer.evaluate(config.eval_samples, (TRAIN, VALIDATION), config.eval_repeats, spreads)
                verdict = {"scores": selection_scores(by_split), "valid": True, "error": None}
            else:
                staging["tasks_saved"] = planned_tasks(config.domains, config.eval_samples, config.eval_repeats)
        finally:  # what the evaluation spent (retries included) is kept even when it failed
            meta = load_gen_metadata(self.output_dir, gen_id)
            meta["usage"] = add_usage(meta.get("usage", {}), scorer.spent)
            meta["staging"] = {**staging, "tasks_run": scorer.tasks_run}
            if verdict is not None:
                meta.update(verdict=verdict, run_eval=True, scores=verdict["scores"])
            if by_split is not None:
                meta["split_scores"] = by_split
                if config.eval_repeats > 1:
                    meta.update(score_spread=selection_scores(spreads), eval_repeats=config.eval_repeats)
            save_gen_metadata(self.output_dir, gen_id, meta)
        return verdict

    def tested(self) -> dict:
        """What ``test.json`` holds: the best generation's one test-split evaluation (empty before it)."""
        try:
            value = json.loads((self.output_dir / TEST_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def score_best_on_test(self) -> dict:
        """The best generation by validation, scored once on every domain's test split (``test.json``).

        Kept with the generation it scored: a resume, or a second call, reuses it unless a later
        generation became the best. A failed test evaluation is recorded with its error."""
        best = self.archive.best()
        if best is None or not any(has_split(d, TEST) for d in self.config.domains):
            return {}
        saved = self.tested()
        if saved.get("gen_id") == str(best.gen_id):
            return saved
        record: dict = {"gen_id": str(best.gen_id), "validation": best.score}
        with telemetry.span("evolution.test", gen_id=str(best.gen_id), output_dir=str(self.output_dir)):
            return self._score_on_test(best, record)

    def _score_on_test(self, best: ArchiveEntry, record: dict) -> dict:
        executor = open_workspace(
            self._make_executor(), get_patch_files(self.output_dir, best.gen_id), self.config.prompts_dir
        )
        scorer = self._scorer(executor, str(best.gen_id))
        try:
            scores = scorer.evaluate(None, (TEST,)).get(TEST, {})
            record.update(scores=scores, score=statistics.fmean(scores.values()))
        except BudgetExceededError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded: the run's generations stand without it
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            executor.cleanup()
            record["usage"] = scorer.spent
            _write_json(self.output_dir / TEST_FILE, record)
        return record

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
                **{key: meta[key] for key in ARCHIVED_METADATA if key in meta},
            },
            valid,
        )
        with self._archive_lock:  # siblings finish concurrently; each snapshot must hold all of them
            self.archive = update_archive(self.output_dir, self.archive, entry)
            self.generations_run.append(gen_id)
        telemetry.set_attributes(
            getattr(self._local, "span", None),
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
            self._local.span = current
            try:
                yield current
            finally:
                self._local.span = None
                telemetry.record("generation", self.output_dir.name, time.perf_counter() - started, True)

    def run(self, runner: StepRunner, on_generation: Callable[[GenerationOutcome], None] | None = None) -> str:
        """Generations until a perfect score, ``max_generations``, no valid parent or the budget, then
        the best scored on test; returns why it stopped. A resumed run goes on from its archive."""
        display = _Display(self) if self.show_progress else None
        try:
            reason = self._generations(runner, on_generation, display)
            if reason != "budget":
                if display is not None:
                    display.update("scoring the best on test")
                runner.run("test-best", self.score_best_on_test, label="test-best")
            return reason
        except KeyboardInterrupt:
            self._set_status("interrupted")  # not "running": resumed by running it again
            raise
        finally:
            if self._children_pool is not None:
                self._children_pool.shutdown(wait=False, cancel_futures=True)
                self._children_pool = None
            if display is not None:
                display.close(self.stop_reason())

    def _generations(
        self,
        runner: StepRunner,
        on_generation: Callable[[GenerationOutcome], None] | None,
        display: _Display | None,
    ) -> str:
        children = [INITIAL] if INITIAL not in self.archive.entries else self.started_children()
        while children or (reason := self.stop_reason()) is None:
            children = children or self.next_round()[1]
            if display is not None:
                several = f" (children {', '.join(children)})" if len(children) > 1 else ""
                display.update(f"running generation {self.round_of(children[0])}{several}")
            outcomes, out_of_budget = self._run_children(children, runner)
            for outcome in outcomes:
                if on_generation is not None:
                    on_generation(outcome)
            if out_of_budget:
                return "budget"
            children = []
        return reason

    def _run_children(self, children: list[str], runner: StepRunner) -> tuple[list[GenerationOutcome], bool]:
        """A lone child is a stage of its own; several are one stage whose children run at once;
        (their outcomes, whether the budget ran out)."""
        try:
            if len(children) == 1:
                (gen_id,) = children
                label = f"gen-{gen_id}"
                return [runner.stage("evolution-generation", self.run_generation, gen_id, runner, label=label)], False
            label = f"gen-{children[0]}-to-{children[-1]}"
            return runner.stage("evolution-generation", self.run_children, children, runner, label=label), False
        except BudgetExceededError:
            return [], True

    def run_children(self, children: list[str], runner: StepRunner) -> list[GenerationOutcome]:
        """Several children at once, each in a thread with a copy of this context, so its steps are
        tasks of the generation's flow run like a lone child's. The stage fails (and still returns
        every outcome) when one of them failed; a budget spent is raised once all have stopped."""

        def child(gen_id: str) -> GenerationOutcome:
            try:
                return self.run_generation(gen_id, runner)
            except StepFailed as failed:
                return failed.outcome

        if self._children_pool is None:  # kept for the run: each thread keeps its event loop (run_coroutine)
            self._children_pool = cf.ThreadPoolExecutor(self.config.children_per_generation, thread_name_prefix="child")
        futures = [self._children_pool.submit(contextvars.copy_context().run, child, gen_id) for gen_id in children]
        cf.wait(futures)
        for future in futures:
            if isinstance(future.exception(), BudgetExceededError):
                raise future.exception()
        outcomes = [future.result() for future in futures]
        failed = [o for o in outcomes if o.error]
        if failed:
            names = ", ".join(o.gen_id for o in failed)
            raise StepFailed(f"{len(failed)} of {len(outcomes)} children failed (generations {names})", outcomes)
        return outcomes

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
                verdict = runner.run("evaluate", self.evaluate, gen_id, executor, label=f"{label}-evaluate")
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
            return runner.run(
                "archive",
                self.record,
                gen_id,
                verdict["scores"],
                verdict["valid"],
                verdict["error"],
                label=f"{label}-archive",
            )
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
            test=self.tested(),
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
                self.tested() or None,
            )
        return self.finished

    # -- internals ---------------------------------------------------------------------
    def _scorer(self, executor: Executor, gen_id: str) -> WorkspaceScorer:
        """The TaskAgent of ``executor``'s workspace on the run's domains, results in ``gen_<id>``."""
        config = self.config
        return WorkspaceScorer(
            config.domains,
            config.task_agent_factory,
            Path(executor.get_workdir()),
            gen_dir(self.output_dir, gen_id),
            config.prompts_dir,
        )

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
        self.total = loop.planned_generations
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
