"""The MetaAgent's bash and editor, prompt files, and the local executor's private repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hyperfunc_core.agents import BashSession, WorkspaceEditor, render, scaffold_prompts
from hyperfunc_core.agents.tools import truncate
from hyperfunc_core.executors import LocalExecutor, PatchError, create_executor


def test_bash_is_persistent_times_out_and_truncates(tmp_path):
    shell = BashSession(tmp_path, timeout_s=1.0)
    try:
        assert shell.run("mkdir sub && cd sub && export GREETING=hi") == ""
        assert shell.run("pwd").endswith("/sub") and shell.run("echo $GREETING") == "hi"
        assert shell.run("false").endswith("[exit status 1]")
        slow = shell.run("cd .. && sleep 5")
        assert "timed out after 1 s" in slow and "as they were before it" in slow
        assert shell.run("pwd").endswith("/sub")  # the state from before the command that timed out
        assert shell.run("f() { echo fn-$1; }; X=3") == "" and shell.run("f $X") == "fn-3"
        long = shell.run("python3 -c 'print(\"x\" * 50000)'")
        assert len(long) < 11_000 and "characters cut" in long
        assert shell.run("  ").startswith("error: command")
    finally:
        shell.close()
    assert truncate("abc", 10) == "abc"


def test_editor_commands_undo_and_confinement(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", ws / "link.txt")
    ed = WorkspaceEditor(ws)
    assert ed("create", "a/tool.py", file_text="x = 1\ny = 2\n").startswith("created a/tool.py")
    assert ed("view", "a/tool.py") == "     1\tx = 1\n     2\ty = 2"
    assert ed("view", "a/tool.py", view_range=[2, -1]) == "     2\ty = 2"
    assert "a/tool.py" in ed("view", ".")
    assert ed("str_replace", "a/tool.py", old_str="y = 2", new_str="y = 3") == "edited a/tool.py"
    assert "occurs 0 times" in ed("str_replace", "a/tool.py", old_str="zzz", new_str="q")
    assert ed("insert", "a/tool.py", insert_line=1, new_str="z = 0").startswith("inserted 1 line")
    assert (ws / "a/tool.py").read_text() == "x = 1\nz = 0\ny = 3\n"
    ed("undo_edit", "a/tool.py")
    ed("undo_edit", "a/tool.py")
    assert (ws / "a/tool.py").read_text() == "x = 1\ny = 2\n"
    assert ed("undo_edit", "a/tool.py") == "undid the creation of a/tool.py" and not (ws / "a/tool.py").exists()
    for bad in ("../secret.txt", str(tmp_path / "secret.txt")):
        answer = ed("view", bad)
        assert answer.startswith("error: path") and "outside the workspace" in answer
    assert "cannot be opened without following a link" in ed("view", "link.txt")
    assert "outside the workspace" in ed("create", "../evil.py", file_text="boom")
    assert not (tmp_path / "evil.py").exists()
    assert "expected view, create" in ed("delete", "a.txt")


def test_prompt_files_render_and_scaffold(tmp_path):
    paths = scaffold_prompts(tmp_path / "prompts")
    assert {p.name for p in paths.values()} == {"meta_agent.txt", "task_agent.txt"}
    (tmp_path / "prompts" / "task_agent.txt").write_text("mine {{inputs}}")
    scaffold_prompts(tmp_path / "prompts")  # existing files are kept
    assert (tmp_path / "prompts" / "task_agent.txt").read_text() == "mine {{inputs}}"
    assert render("{{a}} and {{ b }} and {{c}}", a=1, b="two") == "1 and two and {{c}}"


def _repo(root: Path, sub: str = "") -> Path:
    repo = root / "repo"
    work = repo / sub if sub else repo
    work.mkdir(parents=True)
    (work / "tool.py").write_text("def f():\n    return 1\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return work


@pytest.mark.parametrize("sub", ["", "agents/calc"])
def test_local_executor_replays_a_patch_chain_in_a_private_repository(tmp_path, sub):
    work = _repo(tmp_path, sub)
    patches = []
    for i, new in enumerate(["return 2", "return 3"]):
        ex = create_executor("local", {"repoPath": str(work), "baseCommit": "HEAD"})
        ex.setup(patches)
        tool = Path(ex.get_workdir()) / "tool.py"
        tool.write_text(tool.read_text().replace(f"return {i + 1}", new))
        (Path(ex.get_workdir()) / f"notes{i}.txt").write_text("new file\n")
        diff = ex.diff()
        assert f"+    {new}" in diff and f"notes{i}.txt" in diff and "agents/calc" not in diff
        patch = tmp_path / f"p{i}.diff"
        patch.write_text(diff)
        patches.append(str(patch))
        ex.copy_out("tool.py", str(tmp_path / f"out{i}" / "tool.py"))
        ex.cleanup()
        assert ex._workdir is None
    ex = LocalExecutor(work)
    ex.setup(patches)
    assert "return 3" in (Path(ex.get_workdir()) / "tool.py").read_text() and ex.diff() == ""
    ex.cleanup()
    assert (work / "tool.py").read_text() == "def f():\n    return 1\n"  # the user's checkout is untouched
    assert (tmp_path / "out1" / "tool.py").read_text().endswith("return 3\n")

    bad = tmp_path / "bad.diff"
    bad.write_text(Path(patches[0]).read_text().replace("return 1", "return 99"))
    ex = LocalExecutor(work)
    with pytest.raises(PatchError, match="does not apply"):
        ex.setup([str(bad)])
    ex.cleanup()


def test_executor_input_errors(tmp_path):
    with pytest.raises(ValueError, match="not inside a git repository"):
        create_executor("local", {"repoPath": str(tmp_path)})
    work = _repo(tmp_path)
    with pytest.raises(ValueError, match="baseCommit"):
        create_executor("local", {"repoPath": str(work), "baseCommit": "no-such-ref"})
    with pytest.raises(ValueError, match="kind: expected 'auto', 'local', 'sandbox' or 'docker'"):
        create_executor("kubernetes", {})
