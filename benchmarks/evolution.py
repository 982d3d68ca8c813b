"""Orchestration time per generation of agent evolution, LLM time excluded; and what parallel
children and staged evaluation buy when the LLM takes time to answer.

For lineage depths 1, 10 and 50 on the local executor, times what the loop does around the
agents: parent selection over the archive, executor set-up (git worktree + replaying the
patch chain), the diff of the MetaAgent's change, the archive and metadata writes, and the
clean-up. The baseline, timed in the same run, is the depth-1 generation; the target is
under 1 s at depth 50.

    .venv/bin/python benchmarks/evolution.py [--repeats 5]

``children``: 6 MetaAgent attempts (a scripted edit of the calculator) against a scripted server that
answers each request after ``--latency`` seconds, as a hosted model would: one child per generation
for 6 generations (the baseline, in the same run) against 3 children per generation for 2, and the
same with a staged sample where every child breaks addition (task runs saved by stopping early).

    .venv/bin/python benchmarks/evolution.py children [--latency 0.2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hyperfunc_core.evolution import ArchiveData, ArchiveEntry, save_gen_metadata, select_parent, update_archive
from hyperfunc_core.executors import LocalExecutor


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    for i in range(40):  # a small agent repository: tools, prompts, domain code
        (repo / f"module_{i}.py").write_text("".join(f"value_{j} = {j}\n" for j in range(50)))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def make_lineage(repo: Path, out: Path, depth: int) -> tuple[ArchiveData, str]:
    """A chain of ``depth`` generations, each patch editing one module and adding a note."""
    data = ArchiveData()
    data = update_archive(out, data, ArchiveEntry("initial", None, [], {"d": 0.1}, {}, True))
    save_gen_metadata(out, "initial", {"prev_patch_files": [], "curr_patch_files": []})
    chain: list[str] = []
    parent = "initial"
    for g in range(1, depth + 1):
        ex = LocalExecutor(repo)
        ex.setup(chain)
        work = Path(ex.get_workdir())
        target = work / f"module_{g % 40}.py"
        target.write_text(target.read_text().replace(f"value_{g % 50} = ", f"value_{g % 50} = {g} + "))
        (work / f"note_{g}.md").write_text(f"generation {g}\n")
        patch = out / f"gen_{g}" / "agent_output" / "model_patch.diff"
        patch.parent.mkdir(parents=True, exist_ok=True)
        patch.write_text(ex.diff())
        ex.cleanup()
        save_gen_metadata(
            out, g, {"parent_genid": parent, "prev_patch_files": list(chain), "curr_patch_files": [str(patch)]}
        )
        chain = chain + [str(patch)]
        data = update_archive(
            out, data, ArchiveEntry(g, parent, list(chain), {"d": 0.1 + g / (depth + 1) * 0.8}, {}, True)
        )
        parent = str(g)
    return data, parent


def one_generation(
    repo: Path, out: Path, data: ArchiveData, leaf: str, gen: int, rng: random.Random
) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    select_parent(data, "score_child_prop", rng)
    parent = leaf  # replay the deepest lineage: the worst case
    t["select"] = time.perf_counter() - t0
    from hyperfunc_core.evolution import get_patch_files

    t0 = time.perf_counter()
    chain = get_patch_files(out, parent)
    ex = LocalExecutor(repo)
    ex.setup(chain)
    t["setup+patches"] = time.perf_counter() - t0
    (Path(ex.get_workdir()) / "meta_agent_change.md").write_text("a change\n")  # stands in for the MetaAgent
    t0 = time.perf_counter()
    patch = ex.diff()
    t["diff"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    save_gen_metadata(
        out,
        f"bench{gen}",
        {"parent_genid": parent, "prev_patch_files": chain, "curr_patch_files": [], "patch_chars": len(patch)},
    )
    update_archive(out, data, ArchiveEntry(f"bench{gen}", parent, chain, {"d": 0.5}, {}, True))
    t["archive"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex.cleanup()
    t["cleanup"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def children_run(root: Path, label: str, latency: float, meta, **settings) -> tuple[float, dict]:
    """One scripted evolution run (the loop without Prefect) in ``root/label``; (wall seconds, archive)."""
    import shutil

    from hyperfunc_core import AgentOptions, GenerateLoopConfig, MetaAgent, TaskAgent, load_archive, run_generate_loop
    from hyperfunc_core.domains import CalculatorDomain
    from hyperfunc_core.domains.builtin import CALCULATOR_TOOL
    from hyperfunc_core.testing.llm_server import ScriptedLLMServer
    from hyperfunc_core.testing.scripted_agents import responder

    repo = root / f"{label}_repo"
    repo.mkdir()
    shutil.copy(CALCULATOR_TOOL, repo / "calculator_tool.py")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    answer = responder(meta)

    def slow(body: dict):
        time.sleep(latency)
        return answer(body)

    with ScriptedLLMServer() as server:
        server.responder = slow
        options = dict(model="openai/gpt-4o-mini", api_base=server.api_base, api_key="k")
        config = GenerateLoopConfig(
            domains=[CalculatorDomain()],
            meta_agent=MetaAgent(AgentOptions(**options)),
            task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
            output_dir=str(root / label),
            repo_path=str(repo),
            storage=f"sqlite:///{root / label}.sqlite",
            execution_mode="local",
            eval_samples=10,
            **settings,
        )
        started = time.perf_counter()
        run_generate_loop(config, orchestrate=False)
        return time.perf_counter() - started, load_archive(root / label)


def children_part(latency: float) -> None:
    from hyperfunc_core.evolution.report import staging_savings

    def breaks_addition(body: dict):  # as tests/evolution_scripts.py: a child worse than its parent
        from hyperfunc_core.testing import text, tool_call
        from hyperfunc_core.testing.scripted_agents import tool_results

        if not tool_results(body):
            old = 'if op == "+":\n        result = a + b'
            arguments = {
                "command": "str_replace",
                "path": "calculator_tool.py",
                "old_str": old,
                "new_str": old[:-1] + "- b",
            }
            return tool_call("editor", arguments)
        return text("Changed addition.")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # children that make the tool worse: no perfect score stops a run before its 6 attempts
        one, _ = children_run(root, "one", latency, breaks_addition, max_generations=6)
        three, _ = children_run(root, "three", latency, breaks_addition, max_generations=2, children_per_generation=3)
        full, _ = children_run(root, "full", latency, breaks_addition, max_generations=1, children_per_generation=3)
        staged, archive = children_run(
            root, "staged", latency, breaks_addition, max_generations=1, children_per_generation=3, staged_sample=0.2
        )
    saved = staging_savings(archive)
    print(f"LLM latency {latency:.2f} s per request; 6 MetaAgent attempts; 10 train + 10 validation tasks per child")
    print(f"{'run':<44} {'wall s':>8} {'vs baseline':>12}")
    print(f"{'1 child x 6 generations (baseline)':<44} {one:>8.1f} {1.0:>11.2f}x")
    print(f"{'3 children x 2 generations, at once':<44} {three:>8.1f} {three / one:>11.2f}x")
    print(f"{'3 worse children, full evaluation (baseline)':<44} {full:>8.1f} {1.0:>11.2f}x")
    print(f"{'3 worse children, staged sample 0.2':<44} {staged:>8.1f} {staged / full:>11.2f}x")
    print(
        f"staged: {saved['sample_stopped']} stopped at the sample, {saved['tasks_saved']} task runs saved, "
        f"{saved['check_tasks']} spent on checks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=["orchestration", "children"], default="orchestration")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--latency", type=float, default=0.2, help="children: seconds per LLM answer")
    args = parser.parse_args()
    if args.part == "children":
        children_part(args.latency)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        for depth in args.depths:
            out = root / f"run_{depth}"
            data, leaf = make_lineage(repo, out, depth)
            rng = random.Random(0)
            runs = [one_generation(repo, out, data, leaf, i, rng) for i in range(args.repeats)]
            rows.append((depth, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    base = rows[0][1]["total"]
    print(
        f"{'depth':>5} {'select':>8} {'setup+patches':>14} {'diff':>7} {'archive':>8} {'cleanup':>8} {'total':>8} "
        f"{'vs depth ' + str(rows[0][0]):>12}"
    )
    for depth, m in rows:
        print(
            f"{depth:>5} {m['select'] * 1000:>6.1f}ms {m['setup+patches'] * 1000:>12.1f}ms {m['diff'] * 1000:>5.1f}ms "
            f"{m['archive'] * 1000:>6.1f}ms {m['cleanup'] * 1000:>6.1f}ms {m['total'] * 1000:>6.0f}ms "
            f"{m['total'] / base:>11.2f}x"
        )
    worst = rows[-1]
    print(
        f"target: under 1 s per generation at depth {worst[0]}: "
        f"{'met' if worst[1]['total'] < 1.0 else 'missed'} ({worst[1]['total']:.3f} s, median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
