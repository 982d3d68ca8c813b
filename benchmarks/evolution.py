"""Orchestration time per generation of agent evolution, LLM time excluded.

For lineage depths 1, 10 and 50 on the local executor, times what the loop does around the
agents: parent selection over the archive, executor set-up (git worktree + replaying the
patch chain), the diff of the MetaAgent's change, the archive and metadata writes, and the
clean-up. The baseline, timed in the same run, is the depth-1 generation; the target is
under 1 s at depth 50.

    .venv/bin/python benchmarks/evolution.py [--repeats 5]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()
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
