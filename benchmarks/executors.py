"""What the sandbox's and the Docker executor's isolation cost next to the local executor, in the same run.

For each executor: a workspace's set-up with a 10-patch lineage and its clean-up (what every
generation pays), one short command in the workspace (what every MetaAgent bash call,
TaskAgent tool call and bash-domain prediction pays), and one editor write and read (the
link-safe file layer; inside the container for Docker). Prints medians and each mode's ratio
to local. A mode that cannot start here (no bubblewrap; no Docker engine or image) is left out,
saying why.

    .venv/bin/python benchmarks/executors.py [--repeats 5] [--commands 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hyperfunc_core.agents import WorkspaceEditor
from hyperfunc_core.executors import create_executor, run_in_workspace
from hyperfunc_core.executors.base import check_mode


def make_repo_and_lineage(root: Path, depth: int = 10) -> tuple[Path, list[str]]:
    repo = root / "repo"
    repo.mkdir()
    for i in range(40):
        (repo / f"module_{i}.py").write_text("".join(f"value_{j} = {j}\n" for j in range(50)))
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    patches = []
    for k in range(depth):  # each patch builds on the previous ones, as a lineage does
        (repo / f"module_{k}.py").write_text(
            (repo / f"module_{k}.py").read_text().replace("value_0 = 0", f"value_0 = {k + 1}")
        )
        (repo / f"note_{k}.md").write_text(f"generation {k + 1}\n")
        diff = subprocess.run([*git, "diff", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        diff = (
            subprocess.run([*git, "diff", "--cached", "HEAD"], cwd=repo, capture_output=True, text=True).stdout or diff
        )
        subprocess.run([*git, "commit", "-qm", f"gen {k + 1}"], cwd=repo, check=True)
        patch = root / f"gen_{k + 1}.diff"
        patch.write_text(diff)
        patches.append(str(patch))
    subprocess.run([*git, "checkout", "-q", "HEAD~" + str(depth)], cwd=repo, check=True)
    return repo, patches


def measure(kind: str, repo: Path, patches: list[str], repeats: int, commands: int) -> tuple[float, float, float]:
    setups, runs, edits = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        executor = create_executor(kind, {"repoPath": str(repo)})
        executor.setup(patches)
        work = executor.get_workdir()
        assert "value_0 = 10" in (Path(work) / "module_9.py").read_text()
        for _ in range(commands):
            t = time.perf_counter()
            assert run_in_workspace(work, "cat module_0.py | wc -l", 30).stdout.strip() == "50"
            runs.append(time.perf_counter() - t)
        editor = WorkspaceEditor(work)
        spent = 0.0
        for i in range(commands):
            t = time.perf_counter()
            assert editor("create", f"notes/n{i}.md", file_text="x\n").startswith("created")
            assert editor("view", f"notes/n{i}.md").endswith("x")
            edits.append(time.perf_counter() - t)
            spent += edits[-1]
        executor.cleanup()
        setups.append(time.perf_counter() - started - sum(runs[-commands:]) - spent)
    return statistics.median(setups), statistics.median(runs), statistics.median(edits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--commands", type=int, default=20)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        repo, patches = make_repo_and_lineage(Path(scratch))
        for mode in ("local", "sandbox", "docker"):
            try:
                check_mode(mode)
            except ValueError as exc:
                print(f"{mode}: left out ({exc})")
                continue
            results[mode] = measure(mode, repo, patches, args.repeats, args.commands)
    modes = list(results)
    print(f"{'':38}" + "".join(f"{m:>9}" for m in modes) + "".join(f"{m + '/local':>15}" for m in modes[1:]))
    for row, label in enumerate(
        ("set-up + clean-up, 10 patches (s)", "one command in the workspace (s)", "one editor create + view (s)")
    ):
        base = results["local"][row]
        print(
            f"{label:38}"
            + "".join(f"{results[m][row]:9.4f}" for m in modes)
            + "".join(f"{results[m][row] / base:14.1f}x" for m in modes[1:])
        )


if __name__ == "__main__":
    main()
