"""Tree searches: depth 0 is a set of roots; each later depth expands the best ``beam``
trials of the depth before into ``branch`` children each.

``beam_search`` makes children by random mutation with a step that shrinks with depth;
``llm_branching_agent`` asks an LLM for the variations, from the parent's lineage, and
falls back to mutation when the LLM fails. With pruning on, a running child whose reported
metric falls behind the beam is stopped early.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from hyperfunc_core.llm.text_protocol import extract_json
from hyperfunc_core.tuning.pruners.base import Pruner, StudyReports
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.tuning.strategies.llm_support import (
    asking,
    coerce_point,
    describe_space,
    mutate,
    resolve_llm,
)
from hyperfunc_core.validation import InvalidInput


def _once(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Each point once: a repeat answered from an earlier trial (``repeat_of``) is no second parent."""
    return [t for t in trials if "repeat_of" not in t.info]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"strategy_kwargs[{name!r}]: expected an integer >= 1, got {value!r}")
    return value


class TreeSearch(Strategy):
    """Shared driver of the tree strategies; subclasses say how children are made."""

    def __init__(
        self,
        space: Space,
        *,
        beam: int,
        branch: int,
        max_depth: int,
        prune: bool,
        n_roots: int | None = None,
        min_reports_to_prune: int = 2,
        **kw,
    ) -> None:
        super().__init__(space, **kw)
        self.beam = _positive_int("beam", beam)
        self.branch = _positive_int("branch", branch)
        self.max_depth = max_depth if max_depth == 0 else _positive_int("max_depth", max_depth)
        self.prune = bool(prune)
        self.n_roots = _positive_int("n_roots", n_roots) if n_roots is not None else self.beam * self.branch
        self.min_reports_to_prune = min_reports_to_prune
        self.depth = 0
        self.issued: dict[int, int] = defaultdict(int)
        self.finished_at: dict[int, list[TrialRecord]] = defaultdict(list)
        self.queue: deque[Suggestion] = deque()
        self._issued_keys: set[str] = set()
        self._done = False

    def planned(self, depth: int) -> int:
        return self.n_roots if depth == 0 else self.beam * self.branch

    def max_trials_hint(self) -> int:
        return self.n_roots + self.max_depth * self.beam * self.branch

    @property
    def exhausted(self) -> bool:
        return self._done

    def ask(self) -> Suggestion | None:
        while True:
            if self.queue:
                return self._issue(self.queue.popleft())
            if self.issued[self.depth] < self.planned(self.depth):
                self.queue.extend(self._make_level(self.depth, self.planned(self.depth) - self.issued[self.depth]))
                continue
            if len(self.finished_at[self.depth]) < self.issued[self.depth]:
                return None  # wait for this depth to finish before choosing parents
            if self.depth >= self.max_depth:
                self._done = True
                return None
            self.depth += 1

    def _issue(self, suggestion: Suggestion) -> Suggestion:
        suggestion.info.setdefault("depth", self.depth)
        self.issued[self.depth] += 1
        self._issued_keys.add(self.space.key(suggestion.params))
        return suggestion

    def tell(self, trial: TrialRecord) -> None:
        super().tell(trial)
        depth = int(trial.info.get("depth", 0))
        self.finished_at[depth].append(trial)
        if self.space.key(trial.params) not in self._issued_keys:  # replayed on resume
            self._issued_keys.add(self.space.key(trial.params))
            self.issued[depth] += 1
            self.depth = max(self.depth, depth)

    def parents_for(self, depth: int) -> list[TrialRecord]:
        """The best ``beam`` trials of the depth before (of any depth if none completed there)."""
        previous = [t for t in self.finished_at[depth - 1] if t.state == "complete" and t.value is not None]
        pool = _once(previous) or _once(self.completed())
        return sorted(pool, key=lambda t: self.signed(t.value), reverse=True)[: self.beam]

    def _make_level(self, depth: int, count: int) -> list[Suggestion]:
        if depth == 0:
            return self.make_roots(count)
        parents = self.parents_for(depth)
        if not parents:
            return self.make_roots(count)
        out: list[Suggestion] = []
        for i in range(count):  # round-robin over the parents, `branch` children at a time
            if len(out) >= count:
                break
            out.extend(self.make_children(parents[i % len(parents)], depth, min(self.branch, count - len(out))))
        return out[:count]

    def make_roots(self, count: int) -> list[Suggestion]:
        return [Suggestion(self.space.sample(self.rng), info={"source": "root"}) for _ in range(count)]

    def make_children(self, parent: TrialRecord, depth: int, count: int) -> list[Suggestion]:
        raise NotImplementedError

    def mutation(self, parent: TrialRecord, depth: int, source: str = "mutation") -> Suggestion:
        scale = 0.25 / (1 + depth)
        return Suggestion(
            mutate(self.space, parent.params, self.rng, scale), info={"parent": parent.trial_id, "source": source}
        )

    def pruner(self, metric: str) -> "BranchPruner | None":
        return BranchPruner(metric, self.mode, tree=self) if self.prune else None


@dataclass
class BranchPruner(Pruner):
    """A tree's own pruning: a child whose best reported value falls behind the beam of its depth
    (or, while the depth has fewer finished trials than the beam, behind its parent) stops."""

    tree: TreeSearch | None = None

    name = "branch"

    def due(self, trial: TrialRecord, reports: list[dict]) -> bool:
        depth = int(trial.info.get("depth", 0))
        return depth > 0 and len(self.values(reports)) >= self.tree.min_reports_to_prune

    def prune(self, trial: TrialRecord, reports: list[dict], study: StudyReports) -> bool:
        if not self.due(trial, reports):
            return False
        tree, depth = self.tree, int(trial.info.get("depth", 0))
        peers = sorted(
            (self.signed(t.value) for t in tree.finished_at[depth] if t.state == "complete" and t.value is not None),
            reverse=True,
        )
        if len(peers) >= tree.beam:
            threshold = peers[tree.beam - 1]
        else:
            parents = [t for t in tree.trials if t.trial_id == trial.info.get("parent") and t.value is not None]
            if not parents:
                return False
            threshold = self.signed(parents[0].value)
        return max(self.signed(v) for v in self.values(reports)) < threshold

    def describe(self) -> str:
        return f"strategy {self.tree.name}: children behind the beam on {self.metric}"


class BeamSearch(TreeSearch):
    """Keep the top ``K`` per depth, ``width`` mutated children each, down to ``max_depth``."""

    name = "beam_search"

    def __init__(
        self, space: Space, *, K: int = 3, width: int = 2, max_depth: int = 4, prune: bool = False, **kw
    ) -> None:
        super().__init__(space, beam=K, branch=width, max_depth=max_depth, prune=prune, **kw)

    def make_children(self, parent: TrialRecord, depth: int, count: int) -> list[Suggestion]:
        return [self.mutation(parent, depth) for _ in range(count)]


class LLMBranchingAgent(TreeSearch):
    """A tree whose children are LLM-proposed variations of their parents."""

    name = "llm_branching_agent"

    def __init__(
        self,
        space: Space,
        *,
        llm: Any = None,
        max_depth: int = 5,
        beam_width: int = 3,
        branch_factor: int = 3,
        enable_pruning: bool = True,
        **kw,
    ) -> None:
        super().__init__(space, beam=beam_width, branch=branch_factor, max_depth=max_depth, prune=enable_pruning, **kw)
        self.llm = resolve_llm(llm)
        self.llm_calls = 0
        self.llm_failures = 0

    def _lineage(self, trial: TrialRecord) -> list[dict]:
        by_id = {t.trial_id: t for t in self.trials}
        chain, node = [], trial
        while node is not None:
            chain.append({"params": node.params, "value": node.value, "depth": node.info.get("depth", 0)})
            node = by_id.get(node.info.get("parent"))
        return list(reversed(chain))

    def make_children(self, parent: TrialRecord, depth: int, count: int) -> list[Suggestion]:
        import json

        prompt = (
            f"We are tuning hyperparameters to {'maximise' if self.mode == 'max' else 'minimise'} a metric.\n"
            f"Search space: {describe_space(self.space)}\n"
            f"Lineage of the parent configuration, root first: {json.dumps(self._lineage(parent), default=str)}\n"
            f"Propose {count} distinct variations of the parent likely to do better, each changing one or a few values.\n"
            'Answer with JSON: {"children": [{"params": {...}, "rationale": "..."}, ...]}'
        )
        self.llm_calls += 1
        cost: dict = {}  # the call's retries, recorded with every child it yields
        try:
            answer = extract_json(asking(self.llm, prompt, cost))
            raw_children = answer.get("children", answer) if isinstance(answer, dict) else answer
            if not isinstance(raw_children, list):
                raise ValueError("expected a list of children")
            out = []
            for raw in raw_children[:count]:
                params, notes = coerce_point(
                    self.space, raw.get("params", raw) if isinstance(raw, dict) else raw, self.rng
                )
                rationale = raw.get("rationale", "") if isinstance(raw, dict) else ""
                out.append(
                    Suggestion(
                        params,
                        info={
                            "parent": parent.trial_id,
                            "source": "llm",
                            "rationale": rationale,
                            "notes": notes,
                            **cost,
                        },
                    )
                )
        except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to mutation
            self.llm_failures += 1
            out = []
            reason = f"{type(exc).__name__}: {exc}"[:300]
        else:
            reason = "the LLM proposed fewer children than asked"
        while len(out) < count:
            child = self.mutation(parent, depth, source="fallback")
            child.info.update(fallback_reason=reason, **cost)
            out.append(child)
        return out
