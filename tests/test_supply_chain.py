"""The installed set is the locked one: exact versions with hashes, compromised releases excluded."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
WITHDRAWN = {"litellm": ["1.82.7", "1.82.8", "1.107.0"]}  # a compromise (1.82.7-8); a security audit (1.107.0)


def _locked() -> dict[str, tuple[str, list[str]]]:
    text = (ROOT / "scripts/requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    return {canonicalize_name(n): (v, re.findall(r"sha256:([0-9a-f]{64})", h)) for n, v, h in entries}


def test_every_locked_package_is_pinned_with_a_hash_and_torch_is_left_to_setup():
    locked = _locked()
    lines = [
        ln
        for ln in (ROOT / "scripts/requirements.lock").read_text().splitlines()
        if ln.strip() and not ln.startswith("#") and not ln.strip().startswith("--hash")
    ]
    assert len(locked) == len(lines) > 100  # every requirement line parsed, each with its hash
    assert "torch" not in locked and "hyperfunc" not in locked


def test_withdrawn_and_flagged_releases_are_excluded_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ours = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    constraints = {
        canonicalize_name(Requirement(r).name): Requirement(r)
        for r in (ROOT / "scripts/constraints.txt").read_text().splitlines()
        if r.strip() and not r.startswith("#")
    }
    locked = _locked()
    for name, versions in WITHDRAWN.items():
        for version in versions:
            assert version not in constraints[name].specifier, (name, version)
            assert locked[name][0] != version
        assert "1.107.0" not in ours[name].specifier


def test_the_installed_environment_is_exactly_the_lock_and_covers_the_project():
    locked = _locked()
    wrong = {
        name: (metadata.version(name), version)
        for name, (version, _) in locked.items()
        if metadata.version(name) != version
    }
    assert not wrong, f"installed != locked: {wrong}; run scripts/setup.sh (or scripts/lock.sh after a change)"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue
        assert name in locked, f"{name} is a dependency but not in the lock; run scripts/lock.sh"
        assert SpecifierSet(str(requirement.specifier)).contains(locked[name][0], prereleases=True), (
            spec,
            locked[name],
        )
