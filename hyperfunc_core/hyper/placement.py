"""Where tensors live: a system's examples, expected values and call arguments on its device.

A system moves its examples once as an evaluation (or a training run) starts, and a hyperfunction
moves any tensor argument that ``run`` made elsewhere, so no hyperfunction and no metric ever
receives a tensor on another device than the system's θ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from hyperfunc_core.devices import on_device

if TYPE_CHECKING:
    from hyperfunc_core.hyper.system import Example


def _elsewhere(value: Any, device: torch.device) -> bool:
    if isinstance(value, torch.Tensor):
        return value.device != device
    if isinstance(value, dict):
        return any(_elsewhere(v, device) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_elsewhere(v, device) for v in value)
    return False


def examples_on(examples: Sequence["Example"], device: torch.device) -> list["Example"]:
    """The examples with their inputs and expected values on ``device``: the same objects when they
    are there already (a training run moves its data once), copies otherwise (the caller's stay put)."""
    from hyperfunc_core.hyper.system import Example

    if not any(_elsewhere(e.inputs, device) or _elsewhere(e.expected, device) for e in examples):
        return list(examples)
    return [Example(on_device(e.inputs, device), on_device(e.expected, device)) for e in examples]
