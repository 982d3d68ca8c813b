"""The archive of an evolution run: ``archive.jsonl`` of append-only snapshots, plus a folder
per generation (``gen_<id>/metadata.json``, ``agent_output/model_patch.diff``,
``<domain>_eval*/{predictions.json, report.json}``, one folder per split and pass: ``eval_folder``).

Each line of ``archive.jsonl`` is a whole snapshot; the last line that parses is the
current state, so a line cut short by a crash during an append never makes it unreadable.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ARCHIVE_FILE = "archive.jsonl"
PATCH_FILE = Path("agent_output") / "model_patch.diff"
TRANSCRIPT_FILE = Path("agent_output") / "meta_agent_transcript.json"  # what the MetaAgent said and did


@dataclass
class ArchiveEntry:
    gen_id: str | int
    parent_id: str | int | None
    patch_files: list[str]
    scores: dict[str, float]
    metadata: dict[str, Any]
    valid_parent: bool
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @property
    def score(self) -> float | None:
        """The mean over domains of the scores parents are chosen by (validation, where domains have it);
        None without scores."""
        return sum(self.scores.values()) / len(self.scores) if self.scores else None

    def split_scores(self, split: str) -> dict[str, float]:
        """The domains' scores on ``split`` (train, validation); a run from before splits has train only."""
        by_split = self.metadata.get("split_scores")
        if by_split is None:
            return dict(self.scores) if split == "train" else {}
        return dict(by_split.get(split, {}))

    def mean_on(self, split: str) -> float | None:
        scores = self.split_scores(split)
        return sum(scores.values()) / len(scores) if scores else None


@dataclass
class ArchiveData:
    archive: list[str | int] = field(default_factory=list)
    entries: dict[str, ArchiveEntry] = field(default_factory=dict)

    def entry(self, gen_id: str | int) -> ArchiveEntry:
        return self.entries[str(gen_id)]

    def children(self, gen_id: str | int) -> int:
        return sum(1 for e in self.entries.values() if e.parent_id is not None and str(e.parent_id) == str(gen_id))

    def best(self) -> ArchiveEntry | None:
        scored = [e for e in self.entries.values() if e.valid_parent and e.score is not None]
        return max(scored, key=lambda e: e.score) if scored else None

    def to_json(self) -> dict:
        return {"archive": self.archive, "entries": {k: asdict(v) for k, v in self.entries.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "ArchiveData":
        return cls(list(data.get("archive", [])), {k: ArchiveEntry(**v) for k, v in data.get("entries", {}).items()})


def gen_dir(output_dir: str | Path, gen_id: str | int) -> Path:
    return Path(output_dir) / f"gen_{gen_id}"


def is_starting_node(gen_id: str | int | None) -> bool:
    return gen_id in ("initial", 0, "0")


def load_archive(output_dir: str | Path) -> ArchiveData:
    """The latest snapshot in ``archive.jsonl`` (an empty archive when there is none)."""
    path = Path(output_dir) / ARCHIVE_FILE
    if not path.exists():
        return ArchiveData()
    for line in reversed(path.read_text().splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            return ArchiveData.from_json(json.loads(line))
        except (json.JSONDecodeError, TypeError, KeyError):
            continue  # a line cut short by a crash: the one before it is the last whole snapshot
    return ArchiveData()


def save_archive(output_dir: str | Path, data: ArchiveData) -> None:
    """Append one snapshot line (fsynced, so a finished generation is on disk)."""
    path = Path(output_dir) / ARCHIVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_newline = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as fh:
        if needs_newline:
            fh.write("\n")  # after a cut-off line, start the snapshot on a line of its own
        fh.write(json.dumps(data.to_json(), separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def update_archive(output_dir: str | Path, current: ArchiveData, entry: ArchiveEntry) -> ArchiveData:
    """Add a generation to ``current`` and persist the new snapshot."""
    key = str(entry.gen_id)
    archive = list(current.archive) + ([] if key in current.entries else [entry.gen_id])
    data = ArchiveData(archive, {**current.entries, key: entry})
    save_archive(output_dir, data)
    return data


def load_gen_metadata(output_dir: str | Path, gen_id: str | int) -> dict:
    """A generation's metadata; a damaged file is reported with its path, set aside, and read as empty
    (the generation is then run again from its start, which the loop's steps allow)."""
    path = gen_dir(output_dir, gen_id) / "metadata.json"
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        return value
    except (ValueError, UnicodeDecodeError) as exc:
        aside = path.with_name(f"metadata.damaged-{int(time.time())}.json")
        os.replace(path, aside)
        message = (
            f"evolution run {Path(output_dir).name}: {path} is damaged ({str(exc)[:120]}); set aside as "
            f"{aside.name}, generation {gen_id} runs again from its start"
        )
        logging.getLogger("hyperfunc").warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return {}


def save_gen_metadata(output_dir: str | Path, gen_id: str | int, metadata: dict) -> None:
    folder = gen_dir(output_dir, gen_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "metadata.json.tmp"
    tmp.write_text(json.dumps(metadata, indent=2, default=str))
    os.replace(tmp, folder / "metadata.json")


def get_patch_files(output_dir: str | Path, gen_id: str | int) -> list[str]:
    """Every patch in ``gen_id``'s lineage, oldest first: what rebuilds its code from the base."""
    meta = load_gen_metadata(output_dir, gen_id)
    return list(meta.get("prev_patch_files", [])) + list(meta.get("curr_patch_files", []))


def eval_folder(domain: str, split: str = "train", repeat: int = 0) -> str:
    """``<domain>_eval`` for train (the folder the MetaAgent reads), ``<domain>_eval_<split>`` otherwise;
    a repeated evaluation's later passes end in ``_repeat_<k>``."""
    return f"{domain}_eval" + ("" if split == "train" else f"_{split}") + (f"_repeat_{repeat}" if repeat else "")


def get_score(domain: str, output_dir: str | Path, gen_id: str | int, split: str = "train") -> float | None:
    """A generation's average score on ``domain`` and ``split`` from its report (None when it has none)."""
    folder = gen_dir(output_dir, gen_id) / eval_folder(domain, split)
    if not folder.exists():
        folder = gen_dir(output_dir, gen_id) / eval_folder(domain)  # the seed's layout: report_<split>.json
    for name in (f"report_{split}.json", "report.json"):
        path = folder / name
        if path.exists():
            try:
                report = json.loads(path.read_text())
            except json.JSONDecodeError:
                return None
            if name == "report.json" and report.get("subset", split) != split:
                return None
            return report.get("averageScore")
    return None
