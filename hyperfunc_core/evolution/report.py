"""How an archive reads as text: the family tree, each generation's evaluation stage, and what the
staged evaluation saved (CLI, report and the flow's artifacts)."""

from __future__ import annotations

from hyperfunc_core.evolution.archive import ArchiveData, ArchiveEntry


def stage_note(entry: ArchiveEntry) -> str:
    """Where the generation's evaluation stopped, when it stopped early, or its error."""
    if entry.metadata.get("error"):
        return str(entry.metadata["error"])
    sample = entry.metadata.get("staging", {}).get("sample") or {}
    if sample and not sample.get("passed"):
        return (
            f"stopped at the sample: {sample['score']:.3f} < {sample['threshold']:g} × parent's {sample['parent']:.3f}"
        )
    return ""


def staging_savings(data: ArchiveData) -> dict[str, int]:
    """Children stopped by the smoke check or the sample, the task runs that saved, and the task runs
    the checks cost (smoke tasks and samples, on every child)."""
    totals = {"smoke_failed": 0, "sample_stopped": 0, "tasks_saved": 0, "check_tasks": 0}
    for g in data.archive:
        staging = data.entry(g).metadata.get("staging") or {}
        totals["smoke_failed"] += staging.get("smoke") == "failed"
        totals["sample_stopped"] += (staging.get("sample") or {}).get("passed") is False
        totals["tasks_saved"] += int(staging.get("tasks_saved", 0))
        totals["check_tasks"] += int(staging.get("check_tasks", 0))
    return totals


def savings_line(data: ArchiveData) -> str:
    saved = staging_savings(data)
    return (
        f"{saved['smoke_failed']} failed the smoke check, {saved['sample_stopped']} stopped at the sample; "
        f"{saved['tasks_saved']} task runs saved, {saved['check_tasks']} spent on checks"
    )


def family_tree(data: ArchiveData) -> str:
    """Every generation under its parent, with its score; failed generations are marked."""
    children: dict[str | None, list[str]] = {}
    for g in data.archive:
        parent = data.entry(g).parent_id
        children.setdefault(None if parent is None else str(parent), []).append(str(g))
    lines: list[str] = []

    def label(g: str) -> str:
        e = data.entry(g)
        score = "n/a" if e.score is None else f"{e.score:.3f}"
        name = g if g == "initial" else f"gen{g}"
        note = "" if e.valid_parent else f"  [not a valid parent: {stage_note(e)[:60]}]"
        return f"{name} (score: {score}){note}"

    def walk(g: str, prefix: str, last: bool, root: bool) -> None:
        lines.append(label(g) if root else f"{prefix}{'└── ' if last else '├── '}{label(g)}")
        kids = children.get(g, [])
        for i, kid in enumerate(kids):
            walk(kid, "" if root else prefix + ("    " if last else "│   "), i == len(kids) - 1, False)

    roots = children.get(None, [])
    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)
