"""Update rules on the ES gradient, as pure functions of (params, grad, state).

Gradients here point uphill (ES maximises); every rule ascends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hyperfunc_core.validation import InvalidInput


@dataclass
class OptimizerState:
    step: int = 0
    m: torch.Tensor | None = None
    v: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)


def adam(
    params: torch.Tensor,
    grad: torch.Tensor,
    state: OptimizerState,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[torch.Tensor, OptimizerState]:
    m = torch.zeros_like(params) if state.m is None else state.m
    v = torch.zeros_like(params) if state.v is None else state.v
    t = state.step + 1
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return params + lr * m_hat / (v_hat.sqrt() + eps), OptimizerState(t, m, v)


def clipup(
    params: torch.Tensor,
    grad: torch.Tensor,
    state: OptimizerState,
    *,
    lr: float,
    momentum: float = 0.9,
    max_speed: float | None = None,
) -> tuple[torch.Tensor, OptimizerState]:
    """ClipUp (Toklu et al. 2020): a normalised step with momentum and a speed limit."""
    max_speed = 2 * lr if max_speed is None else max_speed
    velocity = torch.zeros_like(params) if state.m is None else state.m
    norm = grad.norm()
    step = grad * (lr / norm) if norm > 0 else torch.zeros_like(grad)
    velocity = momentum * velocity + step
    speed = velocity.norm()
    if speed > max_speed:
        velocity = velocity * (max_speed / speed)
    return params + velocity, OptimizerState(state.step + 1, velocity, None)


def sgd(
    params: torch.Tensor, grad: torch.Tensor, state: OptimizerState, *, lr: float, momentum: float = 0.0
) -> tuple[torch.Tensor, OptimizerState]:
    velocity = grad if state.m is None or momentum == 0 else momentum * state.m + grad
    return params + lr * velocity, OptimizerState(state.step + 1, velocity, None)


OPTIMIZERS = {"adam": adam, "clipup": clipup, "sgd": sgd}


def sigma_at(step: int, sigma: float, schedule: str, decay: float, sigma_min: float, total_steps: int | None) -> float:
    """The noise scale for ``step``: constant, exponential decay, or cosine to ``sigma_min``."""
    if schedule == "constant":
        return sigma
    if schedule == "exponential":
        return max(sigma_min, sigma * decay**step)
    if schedule == "cosine":
        horizon = max(1, total_steps or 1)
        return sigma_min + 0.5 * (sigma - sigma_min) * (1 + math.cos(math.pi * min(step, horizon) / horizon))
    raise InvalidInput(f"sigma_schedule: expected 'constant', 'exponential' or 'cosine', got {schedule!r}")
