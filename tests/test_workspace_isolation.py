"""Agent workspaces tried as an attacker would, from the MetaAgent's own tools, in every mode.

Each test is one attack from the workspace issue: git commands aimed at the user's repository,
a symlink flipper racing the editor, hard links, FIFOs and huge files, links planted where the
host reads or writes, background processes, a moved base commit, the sandbox's walls, and a
run killed outright. The sandbox tests need bubblewrap (``scripts/test.sh`` installs it); the
Docker ones an engine and the executor image, as in ``test_executor_docker.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from evolution_scripts import make_repo, responder
from test_evolution_loop import config

from hyperfunc_core import AgentOptions, TaskAgent, load_archive, run_generate_loop
from hyperfunc_core.agents import BashSession, WorkspaceEditor
from hyperfunc_core.domains import CalculatorDomain
from hyperfunc_core.evolution.evaluation import evaluate_workspace
from hyperfunc_core.evolution.loop import EvolutionLoop, open_workspace
from hyperfunc_core.executors import create_executor
from hyperfunc_core.executors.base import check_mode
from hyperfunc_core.executors.commands import WorkspaceFiles, run_in_workspace
from hyperfunc_core.executors.workspace import reap_dead_workspaces
from hyperfunc_core.testing import text, tool_call


def _sandbox_or_skip() -> None:
    from hyperfunc_core.executors.sandbox import sandbox_status

    ok, why = sandbox_status()
    if not ok:
        if os.environ.get("HYPERFUNC_TEST_SANDBOX") == "required":
            pytest.fail(f"scripts/test.sh set up the sandbox but it cannot start: {why}")
        pytest.skip(f"the sandbox cannot start here ({why}); run scripts/test.sh (as root) to install bubblewrap")


def _docker_or_skip() -> None:
    from hyperfunc_core.executors.image import engine_status, image_status

    engine_ok, engine = engine_status()
    image_ok, image = image_status() if engine_ok else (False, "")
    if not (engine_ok and image_ok):
        if os.environ.get("HYPERFUNC_TEST_DOCKER") == "required":
            pytest.fail(f"scripts/test.sh set up Docker but: {engine}; {image}")
        pytest.skip(f"no Docker engine or executor image here ({engine}; {image})")


MODES = [
    pytest.param("local"),
    pytest.param("sandbox", marks=pytest.mark.sandbox),
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow]),
]


def _executor(mode: str, repo: Path, **options):
    if mode == "sandbox":
        _sandbox_or_skip()
    if mode == "docker":
        _docker_or_skip()
    executor = create_executor(mode, {"repoPath": str(repo), **options})
    executor.setup([])
    return executor


def _snapshot(repo: Path) -> dict:
    """Everything of a repository an agent could have changed: refs, config, hooks, status, worktrees, files."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout

    files = hashlib.sha256()
    for path in sorted(p for p in repo.rglob("*") if ".git" not in p.relative_to(repo).parts):
        files.update(str(path.relative_to(repo)).encode())
        if path.is_file():
            files.update(path.read_bytes())
    hooks = {p.name: p.read_bytes() for p in sorted((repo / ".git/hooks").iterdir())}
    return {
        "refs": git("for-each-ref"),
        "config": (repo / ".git/config").read_bytes(),
        "hooks": hooks,
        "status": git("status", "--porcelain"),
        "worktrees": git("worktree", "list", "--porcelain"),
        "objects": git("count-objects", "-v"),
        "files": files.hexdigest(),
        "packed": (repo / ".git/packed-refs").read_bytes() if (repo / ".git/packed-refs").exists() else b"",
    }


# -- the user's repository ---------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES[:2])
def test_git_attacks_from_the_metaagents_bash_leave_the_users_repository_byte_identical(tmp_path, mode):
    repo = make_repo(tmp_path)
    before = _snapshot(repo)
    executor = _executor(mode, repo)
    try:
        shell = BashSession(executor.get_workdir(), timeout_s=60)
        for attack in [
            "git -c user.name=x -c user.email=x@x commit -q --allow-empty -m evil && "
            "git update-ref refs/heads/main HEAD && git update-ref refs/heads/master HEAD",
            "git config core.hooksPath /tmp/evil-hooks && mkdir -p .git/hooks && "
            "printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > .git/hooks/pre-commit",
            "git gc -q --prune=now",
            "echo escaped > ../escaped.txt",
            "echo '[evil]' >> .git/config",
            "git worktree add -q ../wt HEAD 2>&1; git branch -f main HEAD",
            f"git -C {repo} update-ref refs/heads/sneaky HEAD 2>&1 || true" if mode != "local" else "true",
        ]:
            shell.run(attack)
        patch = executor.diff()
        assert ".git/" not in patch  # the workspace's own git is never part of a change
    finally:
        executor.cleanup()
    assert _snapshot(repo) == before


# -- the editor --------------------------------------------------------------------------
_FLIPPER = """
import os, sys, time
outside, end, i = sys.argv[1], time.time() + float(sys.argv[2]), 0
while time.time() < end and not os.path.exists("stop"):
    i += 1
    try:
        try:
            os.rename("d", f".away{i}")  # whatever d is now (a folder with files in it, a link), out of the way
        except FileNotFoundError:
            pass
        os.mkdir(f".dir{i}")
        os.symlink(outside, "d")  # now a link out of the workspace
        os.rename("d", f".link{i}")
        os.unlink(f".link{i}")
        os.rename(f".dir{i}", "d")  # a folder again
    except OSError:  # the editor made d in between: take it away next time round
        continue
"""


def _flipper(workdir: str, outside: Path, seconds: float) -> threading.Thread:
    """Flip ``d`` between a folder and a symlink to ``outside`` (until ``stop`` exists), where the agent's commands run."""
    from hyperfunc_core.executors.commands import runner_for

    argv = [runner_for(workdir).python, "-c", _FLIPPER, str(outside), str(seconds)]
    thread = threading.Thread(target=run_in_workspace, args=(workdir, argv, seconds + 30), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_a_symlink_flipper_racing_the_editor_lands_nothing_outside_the_workspace(tmp_path, mode):
    repo = make_repo(tmp_path)
    outside = Path(f"/tmp/hyperfunc-outside-{os.getpid()}-{mode}")  # reachable by every mode's commands
    outside.mkdir(mode=0o777, exist_ok=True)
    os.chmod(outside, 0o777)
    writes = 10_000 if mode != "docker" else 300  # a Docker editor call is one `docker exec` (~0.1 s)
    executor = _executor(mode, repo)
    try:
        editor = WorkspaceEditor(executor.get_workdir())
        flipper = _flipper(executor.get_workdir(), outside, seconds=600)
        answers = {"created": 0, "error": 0}
        for i in range(writes):
            answer = editor("create", f"d/f{i}.txt", file_text="x")
            answers["created" if answer.startswith("created") else "error"] += 1
        escaped = sorted(p.name for p in outside.iterdir())
        assert escaped == [], f"{len(escaped)} of {writes} writes landed outside: {escaped[:5]}"
        assert answers["error"] > 0 and answers["created"] > 0, answers  # the race really ran both ways
    finally:
        WorkspaceFiles(executor.get_workdir()).write_text("stop", "")
        flipper.join(timeout=60)
        executor.cleanup()
        shutil.rmtree(outside, ignore_errors=True)


def test_hard_links_fifos_and_huge_files_are_refused_quickly(tmp_path):
    repo = make_repo(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    executor = _executor("local", repo)
    try:
        work = Path(executor.get_workdir())
        shell = BashSession(work)
        shell.run(f"ln {secret} hard.txt && mkfifo pipe && truncate -s 512M sparse.bin && ln -s {secret} soft.txt")
        editor = WorkspaceEditor(work)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        done: dict[str, str] = {}

        def attempts() -> None:
            done["view hard"] = editor("view", "hard.txt")
            done["edit hard"] = editor("str_replace", "hard.txt", old_str="host", new_str="agent")
            done["create hard"] = editor("create", "hard.txt", file_text="overwritten")
            done["create pipe"] = editor("create", "pipe", file_text="x")
            done["view pipe"] = editor("view", "pipe")
            done["view sparse"] = editor("view", "sparse.bin")
            done["view soft"] = editor("view", "soft.txt")
            done["create soft"] = editor("create", "soft.txt", file_text="overwritten")

        worker = threading.Thread(target=attempts, daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), f"the editor hung; answered so far: {done}"
        assert all(answer.startswith("error:") for answer in done.values()), done
        assert "hard links" in done["view hard"] and "not a regular file" in done["view pipe"]
        assert "over the" in done["view sparse"] and "link" in done["view soft"]
        assert secret.read_text() == "host secret\n"
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
        assert grown_mb < 100, f"viewing a 512 MB sparse file grew the process by {grown_mb:.0f} MB"
    finally:
        executor.cleanup()


# -- background processes -----------------------------------------------------------------
def _running(pattern: str) -> list[str]:
    return [
        line
        for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
        if line.strip() == pattern
    ]


@pytest.mark.parametrize("mode", MODES)
def test_nothing_a_command_started_outlives_it(tmp_path, mode):
    repo = make_repo(tmp_path)
    executor = _executor(mode, repo)
    try:
        shell = BashSession(executor.get_workdir(), timeout_s=30)
        assert shell.run("sleep 1001 & nohup sleep 1002 >/dev/null 2>&1 & echo started") == "started"
        run_in_workspace(executor.get_workdir(), "sleep 1003 & disown; echo ok", 30)
        time.sleep(0.3)
        assert _running("sleep 1001") == _running("sleep 1002") == _running("sleep 1003") == []
        slow = shell.run("sleep 1004 & sleep 60", timeout_s=2)
        assert "timed out after 2 s" in slow and _running("sleep 1004") == []
        if mode != "local":  # a PID namespace or a container: even a new session dies with the command
            shell.run("setsid sleep 1005 >/dev/null 2>&1 < /dev/null & echo ok")
            time.sleep(0.3)
            assert _running("sleep 1005") == [] or mode == "docker"
    finally:
        executor.cleanup()
    assert _running("sleep 1005") == []  # docker: gone with the container at the latest


# -- links where the host reads and writes ------------------------------------------------
def _meta_agent_plants_a_prompts_link(host_folder: Path):
    def meta(body: dict):
        from evolution_scripts import tool_results

        if not tool_results(body):
            return tool_call("bash", {"command": f"rm -rf prompts && ln -s {host_folder} prompts && ls -l prompts"})
        return text("Moved the prompts.")

    return meta


@pytest.mark.parametrize("mode", MODES)
def test_a_prompts_link_planted_by_the_agent_leaks_nothing_and_writes_nothing_on_the_host(llm_server, tmp_path, mode):
    if mode == "sandbox":
        _sandbox_or_skip()
    if mode == "docker":
        _docker_or_skip()
    host_only = Path(f"/tmp/hyperfunc-host-only-{os.getpid()}-{mode}")
    host_only.mkdir(exist_ok=True)
    (host_only / "task_agent.txt").write_text("HOST-ONLY-SECRET {{inputs}}")
    try:
        repo = make_repo(tmp_path)
        llm_server.responder = responder(_meta_agent_plants_a_prompts_link(host_only))
        result = run_generate_loop(
            config(llm_server, tmp_path, repo, execution_mode=mode, max_generations=1, prompts_dir="prompts"),
            orchestrate=False,
        )
        archive = load_archive(result.output_dir)
        planted = archive.entry("1")
        assert (
            not planted.valid_parent
            and "symbolic link" in planted.metadata["error"]
            or "link" in planted.metadata["error"]
        ), planted.metadata
        assert not any("HOST-ONLY-SECRET" in json.dumps(r.body) for r in llm_server.chat_requests())
        # the next generation's workspace replays the link; scaffolding refuses it instead of writing through it
        patch = Path(result.output_dir) / "gen_1/agent_output/model_patch.diff"
        assert "prompts" in patch.read_text()
        with pytest.raises(ValueError, match="link|not a folder"):
            open_workspace(create_executor(mode, {"repoPath": str(repo)}), [str(patch)], "prompts")
        assert sorted(p.name for p in host_only.iterdir()) == ["task_agent.txt"]
        assert (host_only / "task_agent.txt").read_text() == "HOST-ONLY-SECRET {{inputs}}"
    finally:
        shutil.rmtree(host_only, ignore_errors=True)


def test_a_tool_file_swapped_for_a_link_fails_the_evaluation(llm_server, tmp_path):
    llm_server.responder = responder()
    repo = make_repo(tmp_path)
    executor = _executor("local", repo)
    try:
        work = Path(executor.get_workdir())
        (work / "calculator_tool.py").unlink()
        os.symlink(tmp_path / "elsewhere.py", work / "calculator_tool.py")
        options = dict(model="openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k")
        with pytest.raises(ValueError, match="calculator_tool.py in the workspace is a link"):
            evaluate_workspace(
                [CalculatorDomain()],
                lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
                work,
                tmp_path / "eval",
                2,
                None,
            )
        files = WorkspaceFiles(work)
        assert files.kind("calculator_tool.py") == "link" and files.kind("README.md") == "file"
    finally:
        executor.cleanup()


# -- the base commit ----------------------------------------------------------------------
def _commit(repo: Path, name: str, content: str) -> str:
    (repo / name).write_text(content)
    for args in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def test_the_base_commit_is_pinned_for_every_generation_resume_and_replay(llm_server, tmp_path, prefect_harness):
    from hyperfunc_core.history.replay import replay_generation

    llm_server.responder = responder()
    repo = make_repo(tmp_path)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    cfg = config(llm_server, tmp_path, repo, execution_mode="local", max_generations=0, run_name="pinned")
    first = run_generate_loop(cfg)
    assert load_archive(first.output_dir).entry("initial").scores == {"calculator": 0.5}
    recorded = json.loads((Path(first.output_dir) / "run.json").read_text())
    assert recorded["base_commit"] == base and len(base) == 40 and recorded["execution_mode"] == "local"

    # the user (or an agent) moves the branch: a commit that breaks the tool outright
    moved = _commit(repo, "calculator_tool.py", "raise SystemExit('the new HEAD is broken')\n")
    loop = EvolutionLoop(
        config(llm_server, tmp_path, repo, execution_mode="local", max_generations=1, run_name="pinned")
    )
    assert loop.base_commit == base != moved
    executor = loop._make_executor()
    executor.setup([])
    try:
        assert "SystemExit" not in (Path(executor.get_workdir()) / "calculator_tool.py").read_text()
    finally:
        executor.cleanup()
    outcome = replay_generation(
        "pinned", "initial", url=cfg.storage, model="openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k"
    )
    assert outcome.reproduced, outcome  # scored on the recorded commit, not on the broken HEAD

    with pytest.raises(ValueError, match=f"base_commit: this run started from commit {base}; 'HEAD~0'"):
        EvolutionLoop(
            config(llm_server, tmp_path, repo, execution_mode="local", base_commit="HEAD~0", run_name="pinned")
        )
    # history rewritten: the recorded commit is gone, and the resume says so before any work
    subprocess.run(
        [
            "bash",
            "-c",
            "git checkout -q --orphan fresh && git -c user.name=t -c user.email=t@t commit -qm "
            "fresh && git branch -D master main 2>/dev/null; git reflog expire --expire=now --all"
            " && git gc -q --prune=now",
        ],
        cwd=repo,
        check=True,
    )
    generations = sorted(Path(first.output_dir).glob("gen_*"))
    with pytest.raises(ValueError, match=f"base_commit: this run started from commit {base}, which is no longer"):
        EvolutionLoop(config(llm_server, tmp_path, repo, execution_mode="local", max_generations=1, run_name="pinned"))
    assert sorted(Path(first.output_dir).glob("gen_*")) == generations


# -- the sandbox's walls ------------------------------------------------------------------
@pytest.mark.sandbox
def test_the_sandbox_has_no_network_no_writes_outside_no_secrets_and_caps_each_command(tmp_path, monkeypatch):
    _sandbox_or_skip()
    repo = make_repo(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    outside = Path(f"/tmp/hyperfunc-sandbox-outside-{os.getpid()}")
    outside.mkdir(mode=0o777)
    os.chmod(outside, 0o777)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    executor = _executor("sandbox", repo, commandTimeoutS=3, memory="512m", pidsLimit=64)
    try:
        work = executor.get_workdir()

        def sh(command: str, timeout: float = 30):
            return run_in_workspace(work, command, timeout)

        net = sh(f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)\"")
        assert net.returncode != 0 and "refused" in net.stderr.lower(), net.stderr
        for target in (
            outside / "x",
            Path("/etc/hyperfunc-x"),
            Path(os.path.expanduser("~")) / "hyperfunc-x",
            Path("/var/tmp/hyperfunc-x"),
            repo / "x",
        ):
            assert sh(f"echo escaped > {target}").returncode != 0
            assert not target.exists()
        assert sh("echo mine > /tmp/scratch && cat /tmp/scratch").stdout == "mine\n"  # a private /tmp
        assert not Path("/tmp/scratch").exists()
        assert sh("echo kept > kept.txt").returncode == 0 and (Path(work) / "kept.txt").read_text() == "kept\n"
        env = sh("env").stdout
        assert "sk-host-secret" not in env and "HYPERFUNC_HOME" not in env
        assert sh("grep CapEff /proc/self/status").stdout.strip().endswith("0000000000000000")
        if os.geteuid() == 0:
            assert sh("id -u").stdout.strip() == "65534" and sh("ls /root").returncode != 0
            bomb = (
                "import os, time\nn = 0\nfor i in range(200):\n    try:\n        pid = os.fork()\n"
                "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n"
                "    n += 1\nprint(n, flush=True)\nos._exit(0)\n"
            )
            forks = sh(f"python3 -c '{bomb}'")
            assert int(forks.stdout.strip()) < 64, forks.output  # the process limit holds
        memory = sh('python3 -c "b = bytearray(1 << 30)"')
        assert memory.returncode != 0 and "MemoryError" in memory.stderr
        started = time.monotonic()
        runaway = sh("sleep 600; echo never", 600)
        assert runaway.timed_out and runaway.limit_s == 3 and "never" not in runaway.stdout
        assert time.monotonic() - started < 60
        assert "sleep" not in sh("ps -eo args").stdout  # a new PID namespace per command: nothing from before
    finally:
        executor.cleanup()
        listener.close()
        shutil.rmtree(outside, ignore_errors=True)


def test_a_mode_that_cannot_start_fails_the_run_before_any_work(tmp_path, monkeypatch, llm_server):
    from hyperfunc_core.executors import sandbox

    repo = make_repo(tmp_path)
    sandbox.sandbox_status.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        with pytest.raises(ValueError, match="execution_mode: 'sandbox' cannot start on this machine: .*bwrap"):
            EvolutionLoop(config(llm_server, tmp_path, repo, execution_mode="sandbox"))
        assert not (tmp_path / "out").exists()
        mode, why = check_mode("auto")
        assert mode in ("docker", "local") and "sandbox" in why or mode == "docker"
    finally:
        sandbox.sandbox_status.cache_clear()


# -- a run killed outright ----------------------------------------------------------------
def test_a_workspace_of_a_killed_run_is_reaped_by_the_next_one(tmp_path):
    repo = make_repo(tmp_path)
    work_root = tmp_path / "work"
    work_root.mkdir()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import time
        from hyperfunc_core.executors import create_executor
        ex = create_executor("local", {{"repoPath": {str(repo)!r}, "workRoot": {str(work_root)!r}}})
        ex.setup([])
        print(ex.get_workdir(), flush=True)
        time.sleep(600)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    left = Path(child.stdout.readline().strip())
    assert left.is_dir()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert (
        left.is_dir()
        and subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout.count("\n")
        == 1
    )  # nothing registered in the user's repo
    mine = create_executor("local", {"repoPath": str(repo), "workRoot": str(work_root)})
    mine.setup([])  # reaps the dead run's folder first
    try:
        assert not left.parent.exists()
        assert reap_dead_workspaces(work_root) == []  # a live workspace is never reaped
        assert Path(mine.get_workdir()).is_dir()
    finally:
        mine.cleanup()
    assert list(work_root.iterdir()) == []
