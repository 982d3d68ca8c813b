"""The Docker executor on a real engine: isolation, the interface, and whole generations.

Needs a Docker engine and the base image (``scripts/test.sh`` starts ``dockerd`` and runs
``hyperfunc executor build-image``). Where no engine can run, every test here is skipped
and says why; where test.sh set one up, a missing engine or image fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from evolution_scripts import make_repo, meta_agent_breaks_the_tool, meta_agent_repairs, responder
from prefect_workers import process_worker, wait_for_state, worker_env
from test_evolution_loop import config

from hyperfunc_core import load_archive, run_generate_loop
from hyperfunc_core.agents import BashSession, WorkspaceEditor
from hyperfunc_core.executors import PatchError, create_executor
from hyperfunc_core.executors.commands import run_in_workspace
from hyperfunc_core.testing import text

pytestmark = pytest.mark.slow  # real worker processes, containers or clusters: minutes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def docker_ready():
    from hyperfunc_core.executors.image import engine_status, image_status

    wanted = os.environ.get("HYPERFUNC_TEST_DOCKER", "")
    engine_ok, engine = engine_status()
    image_ok, image = image_status() if engine_ok else (False, "")
    if not (engine_ok and image_ok):
        reason = f"no Docker engine or base image here ({engine}; {image}) {wanted}".strip()
        if wanted == "required":
            pytest.fail(f"scripts/test.sh set up Docker but {reason}")
        pytest.skip(reason + "; run scripts/test.sh (as root) to start dockerd and build the image")
    yield
    from hyperfunc_core.executors.docker import executor_containers

    left = [c.name for c in executor_containers()]
    assert not left, f"executor containers left behind: {left}"


def _repo_with_patch(tmp_path: Path) -> tuple[Path, Path]:
    repo = make_repo(tmp_path)
    patch = tmp_path / "gen1.diff"
    patch.write_text(
        subprocess.run(
            [
                "bash",
                "-c",
                "sed -i 's/result = a + b$/result = a * b/; 0,/a \\* b/s//a + b/' "
                "calculator_tool.py && git diff && git checkout -q .",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert "+        result = a * b" in patch.read_text()
    return repo, patch


def test_the_workspace_is_isolated_and_the_interface_matches_the_local_executor(tmp_path):
    repo, patch = _repo_with_patch(tmp_path)
    executor = create_executor(
        "docker", {"repoPath": str(repo), "imageName": "hyperfunc-executor:latest", "commandTimeoutS": 2}
    )
    executor.setup([str(patch)])  # the lineage's patch is applied inside the container
    try:
        work = executor.get_workdir()
        assert "result = a * b" in (Path(work) / "calculator_tool.py").read_text() and executor.diff() == ""

        def sh(command: str) -> str:
            return run_in_workspace(work, command, 30).output.strip()

        assert sh("id -u") == "1000" and sh("pwd") == work
        assert sh("grep CapEff /proc/self/status").endswith("0000000000000000")  # no capabilities at all
        net = run_in_workspace(
            work, "python3 -c \"import urllib.request as u; u.urlopen('http://deb.debian.org', timeout=3)\"", 30
        )
        assert net.returncode != 0 and ("unreachable" in net.stderr or "resolution" in net.stderr), net.stderr
        outside = tmp_path / "outside.txt"  # a host path: not mounted, so this writes the container's own copy
        sh(f"mkdir -p {tmp_path} && echo escaped > {outside} && echo escaped > /tmp/escaped-{os.getpid()}")
        assert not outside.exists() and not Path(f"/tmp/escaped-{os.getpid()}").exists()
        assert sh(f"ls {ROOT}/pyproject.toml 2>&1; echo $?").endswith("2")  # the project is not visible
        limits = executor._container.attrs["HostConfig"]
        assert limits["NetworkMode"] == "none" and limits["Memory"] == 1 << 30 and limits["NanoCpus"] == 10**9
        assert limits["CapDrop"] == ["ALL"] and limits["PidsLimit"] == 256

        runaway = run_in_workspace(work, "sleep 60 & sleep 60; echo never", 60)  # capped by commandTimeoutS
        assert runaway.timed_out and runaway.limit_s == 2 and "never" not in runaway.stdout
        assert "sleep" not in sh("ps -eo user,args | grep ^agent || true")  # the whole group was killed

        shell = BashSession(work, timeout_s=30)  # the MetaAgent's bash, inside the container
        assert shell.run("cd /tmp && export X=1 && whoami") == "agent"
        assert "timed out after 2 s and was killed" in shell.run("sleep 600")
        assert shell.run("pwd; echo ${X:-gone}") == "/tmp\n1"  # the state from before the command that timed out
        shell.close()

        editor = WorkspaceEditor(work)  # the editor writes the mounted copy; new files stay the user's
        editor("create", "notes/todo.md", file_text="check division\n")
        assert sh("echo more >> notes/todo.md && cat notes/todo.md") == "check division\nmore"
        change = executor.diff()
        assert "notes/todo.md" in change and "+more" in change and "calculator_tool.py" not in change

        exposed = executor.expose(str(ROOT / "hyperfunc_core/domains/data"))
        assert exposed.startswith("/home/agent/inputs/") and "calculator.json" in sh(f"ls {exposed}")
        executor.copy_out("notes", str(tmp_path / "copied"))
        executor.copy_out("calculator_tool.py", str(tmp_path / "copied/tool.py"))
        assert (tmp_path / "copied/todo.md").read_text() == "check division\nmore\n"
        assert "result = a * b" in (tmp_path / "copied/tool.py").read_text()
        name = executor.container_name
    finally:
        executor.cleanup()
    assert not Path(work).exists()
    gone = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    assert gone.returncode != 0 and "No such" in gone.stderr


def test_a_patch_that_does_not_apply_fails_setup_and_leaves_no_container(tmp_path):
    repo = make_repo(tmp_path)
    bad = tmp_path / "bad.diff"
    bad.write_text("diff --git a/nope.txt b/nope.txt\n--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-x\n+y\n")
    executor = create_executor("docker", {"repoPath": str(repo)})
    with pytest.raises(PatchError, match="does not apply"):
        executor.setup([str(bad)])
    assert executor.container_name is None
    with pytest.raises(ValueError, match="imageName: no Docker image 'no-such-image:1'"):
        create_executor("docker", {"repoPath": str(repo), "imageName": "no-such-image:1"}).setup([])
    with pytest.raises(ValueError, match="commandTimeoutS: expected seconds > 0"):
        create_executor("docker", {"repoPath": str(repo), "commandTimeoutS": 0})
    with pytest.raises(ValueError, match="options: unknown imagename"):
        create_executor("docker", {"repoPath": str(repo), "imagename": "x"})


def test_a_generation_on_docker_produces_the_same_archive_entries_as_on_local(llm_server, tmp_path, prefect_harness):
    llm_server.responder = responder(meta_agent_repairs)
    repo = make_repo(tmp_path)
    (tmp_path / "local").mkdir()  # its database's folder: hyperfunc makes no folder a storage URL names
    local = run_generate_loop(config(llm_server, tmp_path / "local", repo, execution_mode="local"), orchestrate=False)
    docker = run_generate_loop(
        config(
            llm_server,
            tmp_path / "docker",
            repo,
            execution_mode="docker",
            storage=f"sqlite:///{tmp_path / 'docker.sqlite'}",
        )
    )  # as a Prefect flow

    assert docker.stop_reason == local.stop_reason == "perfect score"
    assert docker.generations_run == local.generations_run == ["initial", "1"]
    ours, theirs = load_archive(docker.output_dir), load_archive(local.output_dir)
    for gen in ("initial", "1"):
        a, b = ours.entry(gen), theirs.entry(gen)
        assert (a.parent_id, a.scores, a.valid_parent) == (b.parent_id, b.scores, b.valid_parent), gen
    patch = "gen_1/agent_output/model_patch.diff"
    assert (Path(docker.output_dir) / patch).read_text() == (Path(local.output_dir) / patch).read_text()
    meta = json.loads((Path(docker.output_dir) / "gen_1/metadata.json").read_text())
    assert meta["meta_agent"]["tool_calls"] == 3  # view, str_replace, and bash python3 run in the container
    first_meta = next(
        r.body
        for r in llm_server.chat_requests()
        if "expert AI agent engineer" in str(r.body) and "/home/agent/inputs/" in str(r.body)
    )
    assert "calculator_eval" in str(first_meta)  # the parent's results were copied in; nothing else is mounted
    assert "result = a + b" in (repo / "calculator_tool.py").read_text()  # the user's repo is untouched


def test_a_runaway_tool_is_killed_at_its_limit_and_the_generation_is_recorded_as_failed(
    llm_server, tmp_path, prefect_harness
):
    llm_server.responder = responder(meta_agent_breaks_the_tool)
    repo = make_repo(tmp_path)
    result = run_generate_loop(
        config(
            llm_server,
            tmp_path,
            repo,
            execution_mode="docker",
            max_generations=1,
            executor_options={"commandTimeoutS": 3},
        )
    )

    archive = load_archive(result.output_dir)
    assert archive.entry("initial").valid_parent and archive.entry("initial").scores == {"calculator": 0.5}
    broken = archive.entry("1")
    assert not broken.valid_parent and broken.scores == {}
    assert broken.metadata["error"].startswith("smoke check: calculator: CommandTimeout")
    assert "ran past 3 s and was killed" in broken.metadata["error"]
    out = Path(result.output_dir)
    # The smoke check's own call was killed at the limit: no task was spent on a tool that hangs.
    assert broken.metadata["staging"]["smoke"] == "failed" and broken.metadata["staging"]["tasks_run"] == 0
    assert not list((out / "gen_1").glob("calculator_eval*"))
    meta_calls = [r.body for r in llm_server.chat_requests() if "expert AI agent engineer" in str(r.body)]
    assert "timed out after 3 s and was killed" in str(meta_calls[1])  # the MetaAgent's runaway bash command
    assert "while True" in (out / "gen_1/agent_output/model_patch.diff").read_text()


PROCESS = textwrap.dedent("""
    import sys, time
    from hyperfunc_core.executors import create_executor
    executor = create_executor("docker", {"repoPath": sys.argv[1]})
    executor.setup([])
    print(executor.container_name, flush=True)
    time.sleep(120)
""")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_container_outlives_a_cancelled_or_killed_process(tmp_path, how):
    from hyperfunc_core.executors.docker import reap_orphans

    repo = make_repo(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", PROCESS, str(repo)], stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    assert name.startswith("hyperfunc-gen-"), name

    def exists() -> bool:
        return subprocess.run(["docker", "inspect", name], capture_output=True).returncode == 0

    assert exists()
    proc.send_signal(getattr(signal, how))  # SIGTERM: how Prefect cancels a flow run's process
    assert proc.wait(timeout=60) == -getattr(signal, how)
    if how == "SIGKILL":  # no handler runs: the next executor on this machine removes the orphan
        assert exists() and name in reap_orphans()
    assert not exists()


def test_hyperfunc_evolve_runs_an_example_folder_in_docker(llm_server, tmp_path):
    """The CLI path: a folder inside the project's repository, exported and patched in the container."""
    llm_server.responder = responder(meta_agent_repairs)
    env = {**os.environ, "HYPERFUNC_HOME": str(tmp_path / "home"), "HYPERFUNC_LLM_API_KEY": "k"}
    hyperfunc = str(Path(sys.executable).parent / "hyperfunc")
    done = subprocess.run(
        [
            hyperfunc,
            "evolve",
            "calculator",
            "--repo",
            str(ROOT / "examples/calculator"),
            "--executor",
            "docker",
            "--local",
            "--generations",
            "1",
            "--model",
            "openai/gpt-4o-mini",
            "--api-base",
            llm_server.api_base,
            "--output",
            str(tmp_path / "evo"),
            "--prompts-dir",
            "prompts",
            "--eval-samples",
            "10",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped: perfect score" in done.stdout
    patch = (tmp_path / "evo/gen_1/agent_output/model_patch.diff").read_text()
    assert "a/calculator_tool.py" in patch and "+        result = a * b" in patch  # relative to the example folder


def test_the_executor_commands_report_the_image_and_clean_up():
    hyperfunc = str(Path(sys.executable).parent / "hyperfunc")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [hyperfunc, "executor", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )

    built = cli("build-image")  # scripts/test.sh built it: the same recipe is not built again
    assert built.returncode == 0 and "is up to date (recipe" in built.stdout, built.stdout + built.stderr
    status = cli("status")
    assert (
        status.returncode == 0
        and "engine: engine" in status.stdout
        and "image: hyperfunc-executor:latest (" in status.stdout
    )
    assert cli("cleanup").stdout.startswith("removed 0 container(s)")


def test_a_prefect_cancel_of_a_docker_evolution_run_removes_its_container(llm_server, tmp_path, prefect_harness):
    """Cancel from Prefect, as a user would in the UI: the worker stops the flow-run process, and the
    generation's container goes with it."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    from deployments.register import apply_deployments
    from hyperfunc_core.executors.docker import executor_containers

    llm_server.responder = lambda body: text("still thinking", delay_s=120)  # holds the run inside a generation
    pool, log = "docker-cancel-pool", tmp_path / "worker.log"
    apply_deployments(["weekly-calculator-evolution"], work_pool=pool, with_schedules=False)
    with process_worker(pool, worker_env(tmp_path, HYPERFUNC_LLM_API_KEY="k"), log):
        run = run_deployment(
            "evolution/weekly-calculator-evolution",
            timeout=0,
            parameters={
                "run_name": "cancel-me",
                "add_generations": None,
                "spec": {
                    "domain": "calculator",
                    "repo": "examples/calculator",
                    "prompts_dir": "prompts",
                    "model": "openai/gpt-4o-mini",
                    "api_base": llm_server.api_base,
                    "executor": "docker",
                    "generations": 1,
                    "output": str(tmp_path / "evo"),
                },
            },
        )
        wait_for_state(run.id, lambda s: s.is_running() or s.is_final(), 120, log)
        deadline = time.time() + 120  # wait until the run is inside a generation, waiting on the model
        while not (executor_containers() and llm_server.chat_requests()) and time.time() < deadline:
            time.sleep(0.5)
        assert executor_containers() and llm_server.chat_requests(), log.read_text()[-4000:]

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Cancelling(), force=True)
        state = wait_for_state(run.id, lambda s: s.is_final(), 120, log)
        assert state.is_cancelled(), f"{state}\n{log.read_text()[-4000:]}"
        deadline = time.time() + 30
        while executor_containers() and time.time() < deadline:
            time.sleep(0.5)
        assert not executor_containers(), f"left behind after the cancel\n{log.read_text()[-4000:]}"
