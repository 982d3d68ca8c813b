"""What the Docker executor's isolation costs next to the local executor, measured in the same run.

For each executor: a workspace's set-up with a 10-patch lineage and its clean-up (what every
generation pays), and one short command in the workspace (what every MetaAgent bash call,
TaskAgent tool call and bash-domain prediction pays). Prints medians and the Docker/local
ratio. Needs a Docker engine and the base image (hyperfunc executor build-image).

    .venv/bin/python benchmarks/executors.py [--repeats 5] [--commands 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hyperfunc_core.executors import create_executor, run_in_workspace


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
        (repo / f"module_{k}.py").write_text((repo / f"module_{k}.py").read_text().replace("value_0 = 0", f"value_0 = {k + 1}"))
        (repo / f"note_{k}.md").write_text(f"generation {k + 1}\n")
        diff = subprocess.run([*git, "diff", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        diff = subprocess.run([*git, "diff", "--cached", "HEAD"], cwd=repo, capture_output=True, text=True).stdout or diff
        subprocess.run([*git, "commit", "-qm", f"gen {k + 1}"], cwd=repo, check=True)
        patch = root / f"gen_{k + 1}.diff"
        patch.write_text(diff)
        patches.append(str(patch))
    subprocess.run([*git, "checkout", "-q", "HEAD~" + str(depth)], cwd=repo, check=True)
    return repo, patches


def measure(kind: str, repo: Path, patches: list[str], repeats: int, commands: int) -> tuple[float, float]:
    setups, runs = [], []
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
        executor.cleanup()
        setups.append(time.perf_counter() - started - sum(runs[-commands:]))
    return statistics.median(setups), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--commands", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        repo, patches = make_repo_and_lineage(Path(scratch))
        local = measure("local", repo, patches, args.repeats, args.commands)
        docker = measure("docker", repo, patches, args.repeats, args.commands)
    print(f"{'':34} {'local':>9} {'docker':>9} {'ratio':>7}")
    for label, a, b in (("set-up + clean-up, 10 patches (s)", local[0], docker[0]),
                        ("one command in the workspace (s)", local[1], docker[1])):
        print(f"{label:34} {a:9.3f} {b:9.3f} {b / a:7.1f}x")


if __name__ == "__main__":
    main()
