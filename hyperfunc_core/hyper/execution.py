"""How a population is run: candidates per vmapped chunk and torch threads, chosen by measuring.

The seed's V2 scheduler. Which plan is fastest depends on the system, the shapes and the machine:
on a loaded 2-core CPU a two-layer MLP at population 256 × 1,000 examples ran 16 candidates per
chunk on one thread fastest, 65 per chunk on two threads slower, and one candidate at a time
slowest; on a GPU, the biggest chunk that fits wins. So the system times real chunks of the
population (their scores are kept: measuring costs no extra evaluation), walks a ladder of chunk
sizes and thread counts while the time per candidate improves, and keeps the fastest plan for
that workload for the rest of the run. A workload (population, number of examples, input shapes,
device, pair budget) it has not seen is measured afresh.

A chunk in ``auto`` and ``batched`` never holds one candidate alone when the population has
more: torch runs a batch of one through other kernels, whose last bits differ, and a run resumed
in a new process (which measures again, and may pick another chunk size) must score every
candidate exactly as the uninterrupted run did. (``loop`` is one candidate at a time, always.)

``auto`` measures; ``batched`` runs the biggest chunks ``max_batch_size`` allows with torch's
threads (the fixed path); ``loop`` runs one candidate at a time (vmapped over its examples).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

LADDER_STEP = 4  # chunk sizes tried: the largest, then a quarter of it, and so on


@dataclass(frozen=True)
class Plan:
    candidates_per_chunk: int
    threads: int

    def describe(self) -> str:
        who = "1 candidate" if self.candidates_per_chunk == 1 else f"{self.candidates_per_chunk} candidates"
        return f"{who} per chunk, {self.threads} thread{'s' if self.threads > 1 else ''}"


@dataclass
class Workload:
    """What one plan is chosen for, and what has been measured for it (seconds per candidate)."""

    largest_chunk: int
    threads: int  # torch's own thread count: the most a plan uses
    measured: dict[Plan, float] = field(default_factory=dict)
    chosen: Plan | None = None

    def ladder(self) -> list[int]:
        """Chunk sizes worth timing, largest first, down to 2 (never 1: see the module doc)."""
        if self.largest_chunk < 2:
            return [1]
        sizes, c = [], self.largest_chunk
        while c >= 2:
            sizes.append(c)
            c //= LADDER_STEP
        return sizes if sizes[-1] == 2 else sizes + [2]

    def best(self, threads: int | None = None) -> tuple[Plan, float] | None:
        rows = [(p, t) for p, t in self.measured.items() if threads is None or p.threads == threads]
        return min(rows, key=lambda row: row[1]) if rows else None

    def next_to_measure(self) -> Plan | None:
        """The next plan worth timing, or None when the search is over (then ``best()`` is the plan).

        A local search on the ladder of chunk sizes, first at torch's thread count, then at one
        thread from the best size found: time the best plan's smaller and larger neighbours until
        neither is faster."""
        ladder = self.ladder()
        for threads in dict.fromkeys([self.threads, 1]):
            found = self.best(threads)
            if found is None:
                start = self.largest_chunk if threads == self.threads else self.best()[0].candidates_per_chunk
                return Plan(start, threads)
            at = ladder.index(found[0].candidates_per_chunk)
            for neighbour in ladder[at + 1 : at + 2] + ladder[max(0, at - 1) : at]:
                if Plan(neighbour, threads) not in self.measured:
                    return Plan(neighbour, threads)
        return None


class ExecutionPlanner:
    """The plans of one system, per workload, kept for the run (the system holds one planner)."""

    def __init__(self) -> None:
        self.workloads: dict[tuple, Workload] = {}

    def run(
        self,
        key: tuple,
        population: int,
        largest_chunk: int,
        mode: str,
        run_chunk: Callable[[int, int], None],
    ) -> Plan:
        """Run ``run_chunk(lo, hi)`` over ``range(population)`` in chunks under the workload's plan,
        timing chunks while the plan is still being chosen. Returns the plan the last chunk used."""
        threads = torch.get_num_threads()
        largest_chunk = max(1, min(largest_chunk, population))
        if mode != "auto":
            plan = Plan(largest_chunk if mode == "batched" else 1, threads)
            self._chunks(0, population, plan, run_chunk)
            return plan
        work = self.workloads.setdefault((*key, largest_chunk, threads), Workload(largest_chunk, threads))
        lo = 0
        while lo < population and work.chosen is None:
            plan = work.next_to_measure()
            if plan is None:
                work.chosen = work.best()[0]
                break
            if plan.candidates_per_chunk > population - lo:  # not enough left this call: measure on the next
                break
            started = time.perf_counter()
            with _threads(plan.threads):
                run_chunk(lo, lo + plan.candidates_per_chunk)
            work.measured[plan] = (time.perf_counter() - started) / plan.candidates_per_chunk
            lo += plan.candidates_per_chunk
        plan = work.chosen or (work.best() or (Plan(largest_chunk, threads), 0.0))[0]
        self._chunks(lo, population, plan, run_chunk)
        return plan

    @staticmethod
    def _chunks(lo: int, population: int, plan: Plan, run_chunk: Callable[[int, int], None]) -> None:
        with _threads(plan.threads):
            for start in range(lo, population, plan.candidates_per_chunk):
                hi = min(population, start + plan.candidates_per_chunk)
                if hi - start == 1 and plan.candidates_per_chunk > 1 and start > 0:
                    start -= 1  # a lone last candidate runs beside its neighbour (rescored alike)
                run_chunk(start, hi)

    def describe(self) -> list[str]:
        """One line per workload: its plan (or 'measuring') and the times measured."""
        lines = []
        for key, work in self.workloads.items():
            times = ", ".join(f"{p.describe()}: {1000 * t:.2f} ms" for p, t in sorted(work.measured.items(), key=str))
            state = work.chosen.describe() if work.chosen else "measuring"
            lines.append(f"{key}: {state} (per candidate: {times})")
        return lines


class _threads:
    """torch's intra-op threads set to ``count`` for a block (and put back after it)."""

    def __init__(self, count: int) -> None:
        self.count, self.saved = count, None

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        if self.saved != self.count:
            torch.set_num_threads(self.count)

    def __exit__(self, *exc: object) -> None:
        if torch.get_num_threads() != self.saved:
            torch.set_num_threads(self.saved)
