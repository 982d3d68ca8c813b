"""Hyperparameter types: how a hyperfunction's θ looks as a flat tensor and as the ``hp``
object its body reads.

An hp type is a class with ``shape()``, ``dim()``, ``from_tensor(t)`` and an instance
method ``to_tensor()``. ``noise_rank()`` tells ES to perturb a 2-D θ with low-rank noise.
``from_tensor`` must only index and reshape (no ``.item()``, no Python branching on
values) so that a whole population can flow through it under ``torch.vmap``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from hyperfunc_core.validation import InvalidInput


class HPType:
    """Base of the tensor hp types; subclasses come from the ``create`` factories."""

    _shape: ClassVar[tuple[int, ...]] = ()
    _noise_rank: ClassVar[int | None] = None

    def __init__(self, value: torch.Tensor) -> None:
        self.value = value

    @classmethod
    def shape(cls) -> tuple[int, ...]:
        return cls._shape

    @classmethod
    def dim(cls) -> int:
        return math.prod(cls._shape)

    @classmethod
    def noise_rank(cls) -> int | None:
        return cls._noise_rank

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> "HPType":
        return cls(t.reshape(cls._shape))

    def to_tensor(self) -> torch.Tensor:
        return self.value.reshape(self._shape)

    @classmethod
    def default_init(cls, generator: torch.Generator | None = None) -> torch.Tensor:
        """Xavier-like: uniform in ±sqrt(6 / (fan_in + fan_out)) from ``shape()``."""
        shape = cls._shape or (1,)
        fan_out = shape[0]
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(shape, generator=generator) * 2 - 1) * bound

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self._shape})"


class TensorParam(HPType):
    """Any tensor θ: ``TensorParam.create(3, 8)`` is a type whose ``hp.value`` is a (3, 8) tensor."""

    @classmethod
    def create(cls, *shape: int, noise_rank: int | None = None, name: str | None = None) -> type["TensorParam"]:
        _check_shape(shape)
        if noise_rank is not None and (len(shape) != 2 or not isinstance(noise_rank, int) or noise_rank < 1):
            raise InvalidInput(
                f"noise_rank: expected None or an integer >= 1 for a 2-D shape, got {noise_rank!r} for {shape}"
            )
        return type(
            name or f"TensorParam{'x'.join(map(str, shape))}",
            (cls,),
            {"_shape": tuple(shape), "_noise_rank": noise_rank},
        )


class LoRAWeight(HPType):
    """A (out_dim, in_dim) weight matrix, read as ``hp.weight``; ES perturbs it with rank-``noise_rank`` noise."""

    @property
    def weight(self) -> torch.Tensor:
        return self.value

    @classmethod
    def create(cls, out_dim: int, in_dim: int, noise_rank: int | None = 4) -> type["LoRAWeight"]:
        _check_shape((out_dim, in_dim))
        if noise_rank is not None and (not isinstance(noise_rank, int) or noise_rank < 1):
            raise InvalidInput(f"noise_rank: expected None or an integer >= 1, got {noise_rank!r}")
        rank = None if noise_rank is None else min(noise_rank, out_dim, in_dim)
        return type(f"LoRAWeight{out_dim}x{in_dim}", (cls,), {"_shape": (out_dim, in_dim), "_noise_rank": rank})


@dataclass
class LMParam:
    """LLM sampling parameters as an ES-optimisable vector of five numbers.

    ``from_tensor`` clamps each to its valid range, so any perturbation is a legal request.
    """

    temperature: float = 0.7
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    max_tokens_scale: float = 1.0  # multiplies the call's max_tokens budget

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "temperature": (0.0, 2.0),
        "top_p": (0.01, 1.0),
        "presence_penalty": (-2.0, 2.0),
        "frequency_penalty": (-2.0, 2.0),
        "max_tokens_scale": (0.1, 4.0),
    }

    @classmethod
    def shape(cls) -> tuple[int, ...]:
        return (5,)

    @classmethod
    def dim(cls) -> int:
        return 5

    @classmethod
    def noise_rank(cls) -> None:
        return None

    def to_tensor(self, device: Any = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.tensor([getattr(self, f.name) for f in fields(self)], device=device, dtype=dtype)

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> "LMParam":
        values = [float(min(max(float(v), lo), hi)) for v, (lo, hi) in zip(t.reshape(-1).tolist(), cls.RANGES.values())]
        return cls(*values)

    @classmethod
    def default_init(cls, generator: torch.Generator | None = None) -> torch.Tensor:
        return cls().to_tensor()

    def completion_kwargs(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The litellm/OpenAI keyword arguments these values stand for."""
        out: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }
        if max_tokens is not None:
            out["max_tokens"] = max(1, int(round(max_tokens * self.max_tokens_scale)))
        return out


def hp_shape(hp_type: Any) -> tuple[int, ...]:
    """``hp_type.shape()``, checked: the one way the rest of the package asks for a shape."""
    for method in ("shape", "from_tensor"):
        if not callable(getattr(hp_type, method, None)):
            raise InvalidInput(
                f"hp_type: expected a type with shape(), dim(), from_tensor() and to_tensor(), "
                f"got {hp_type!r} (missing {method})"
            )
    shape = tuple(int(s) for s in hp_type.shape())
    _check_shape(shape)
    return shape


def default_init(hp_type: Any, generator: torch.Generator | None = None) -> torch.Tensor:
    """An initial θ for ``hp_type``: its own ``default_init`` when it has one, else Xavier-like."""
    if callable(getattr(hp_type, "default_init", None)):
        return hp_type.default_init(generator)
    shape = hp_shape(hp_type)
    fake = type("_Init", (HPType,), {"_shape": shape})
    return fake.default_init(generator)


def _check_shape(shape: tuple) -> None:
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise InvalidInput(f"shape: expected one or more positive integers, got {shape!r}")
