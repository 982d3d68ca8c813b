"""Moving nested values' tensors to a device: one helper for call arguments, examples and ES state."""

from __future__ import annotations

from typing import Any

import torch


def on_device(value: Any, device: torch.device | str) -> Any:
    """``value`` with every tensor in it (in dicts, lists and tuples too) on ``device``; a tensor
    already there is returned as is."""
    device = device if isinstance(device, torch.device) else torch.device(device)
    if isinstance(value, torch.Tensor):
        return value if value.device == device else value.to(device)
    if isinstance(value, dict):
        return {k: on_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(on_device(v, device) for v in value)
    return value
