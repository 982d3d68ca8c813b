"""The family tree of an archive, as text (CLI and the flow's artifact)."""

from __future__ import annotations

from hyperfunc_core.evolution.archive import ArchiveData


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
        note = "" if e.valid_parent else f"  [not a valid parent: {str(e.metadata.get('error') or '')[:60]}]"
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
