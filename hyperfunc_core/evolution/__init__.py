"""Agent evolution: archive, parent selection, ensemble and the generation loop."""

from hyperfunc_core.evolution.archive import (
    ArchiveData,
    ArchiveEntry,
    get_patch_files,
    get_score,
    is_starting_node,
    load_archive,
    load_gen_metadata,
    save_archive,
    save_gen_metadata,
    update_archive,
)
from hyperfunc_core.evolution.ensemble import ensemble
from hyperfunc_core.evolution.selection import STRATEGIES, parent_weights, select_parent

__all__ = [
    "ArchiveData",
    "ArchiveEntry",
    "STRATEGIES",
    "ensemble",
    "get_patch_files",
    "get_score",
    "is_starting_node",
    "load_archive",
    "load_gen_metadata",
    "parent_weights",
    "save_archive",
    "save_gen_metadata",
    "select_parent",
    "update_archive",
]
