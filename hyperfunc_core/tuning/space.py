"""Search spaces: ``Float``, ``Int``, ``Choice``, ``Bool``, nested dicts and fixed values.

A nested space is flattened into dotted paths (``"model.n_layers"``) so strategies work on
one flat list of dimensions; ``Space.unflatten`` rebuilds the nested parameters that the
objective receives. Every dimension also maps to and from the unit interval, which is
what model-based strategies (the Gaussian process, TPE) and mutations work in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperfunc_core.validation import InvalidInput


def _as_json(value: Any) -> Any:
    """``value`` as it comes back from JSON storage (tuples as lists)."""
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


class SpaceError(InvalidInput):
    """A search space that cannot be searched; raised before any trial runs."""


class Param:
    """One searchable dimension."""

    def sample(self, rng: np.random.Generator) -> Any:
        return self.from_unit(float(rng.random()))

    def to_unit(self, value: Any) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def clip(self, value: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def grid(self, resolution: int | None) -> list[Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def validate(self, path: str) -> None:
        pass


@dataclass(frozen=True)
class Float(Param):
    """A real number in ``[low, high]``, uniform or log-uniform."""

    low: float
    high: float
    log: bool = False

    def validate(self, path: str) -> None:
        _check_bounds(path, self.low, self.high, self.log, "Float")

    def to_unit(self, value: Any) -> float:
        v = min(max(float(value), self.low), self.high)
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def clip(self, value: Any) -> float:
        return min(max(float(value), self.low), self.high)

    def grid(self, resolution: int | None) -> list[float]:
        if not resolution:
            raise SpaceError(
                "grid search needs discrete values: give strategy_kwargs={'resolution': N} to grid Float parameters"
            )
        return [
            self.from_unit(i / (resolution - 1)) if resolution > 1 else self.from_unit(0.5) for i in range(resolution)
        ]

    def describe(self) -> dict:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Int(Param):
    """An integer in ``[low, high]`` (both inclusive), uniform or log-uniform."""

    low: int
    high: int
    log: bool = False

    def validate(self, path: str) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SpaceError(f"parameter {path!r}: Int {name} must be an integer, got {value!r}")
        _check_bounds(path, self.low, self.high, self.log, "Int")

    def _float(self) -> Float:
        return (
            Float(self.low - 0.5 + 1e-9, self.high + 0.5 - 1e-9, False)
            if not self.log
            else Float(max(self.low - 0.5, self.low * 0.5), self.high + 0.5 - 1e-9, True)
        )

    def to_unit(self, value: Any) -> float:
        return self._float().to_unit(value)

    def from_unit(self, u: float) -> int:
        return self.clip(self._float().from_unit(u))

    def clip(self, value: Any) -> int:
        return int(min(max(int(round(float(value))), self.low), self.high))

    def grid(self, resolution: int | None) -> list[int]:
        if self.high - self.low + 1 <= (resolution or 1_000_000):
            return list(range(self.low, self.high + 1))
        return sorted({self.from_unit(i / (resolution - 1)) for i in range(resolution)})

    def describe(self) -> dict:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True, init=False)
class Choice(Param):
    """One of a list of options (any JSON-able values)."""

    options: tuple

    def __init__(self, options: Any) -> None:
        object.__setattr__(self, "options", tuple(options) if isinstance(options, (list, tuple)) else options)

    def validate(self, path: str) -> None:
        if not isinstance(self.options, tuple):
            raise SpaceError(f"parameter {path!r}: Choice expects a list of options, got {self.options!r}")
        if not self.options:
            raise SpaceError(f"parameter {path!r}: Choice needs at least one option, got an empty list")

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.options)

    def from_unit(self, u: float) -> Any:
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def index(self, value: Any) -> int:
        """The option ``value`` names: equal, equal as JSON (a stored tuple comes back a list), or a
        string differing only in case and spaces."""
        for i, option in enumerate(self.options):
            if option == value or _as_json(option) == _as_json(value):
                return i
        for i, option in enumerate(self.options):
            if isinstance(option, str) and isinstance(value, str) and option.lower() == value.strip().lower():
                return i
        raise ValueError(f"{value!r} is not one of {list(self.options)!r}")

    def clip(self, value: Any) -> Any:
        return self.options[self.index(value)]

    def grid(self, resolution: int | None) -> list[Any]:
        return list(self.options)

    def describe(self) -> dict:
        return {"type": "choice", "options": list(self.options)}


@dataclass(frozen=True)
class Bool(Param):
    """True or False, each with probability 1/2."""

    def to_unit(self, value: Any) -> float:
        return 0.75 if bool(value) else 0.25

    def from_unit(self, u: float) -> bool:
        return u >= 0.5

    def clip(self, value: Any) -> bool:
        if isinstance(value, str):
            if value.strip().lower() in ("true", "yes", "1"):
                return True
            if value.strip().lower() in ("false", "no", "0"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        return bool(value)

    def grid(self, resolution: int | None) -> list[bool]:
        return [False, True]

    def describe(self) -> dict:
        return {"type": "bool"}


def _check_bounds(path: str, low: Any, high: Any, log: bool, kind: str) -> None:
    for name, value in (("low", low), ("high", high)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value)
        ):
            raise SpaceError(f"parameter {path!r}: {kind} {name} must be a finite number, got {value!r}")
    if low >= high:
        raise SpaceError(f"parameter {path!r}: {kind} needs low < high, got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise SpaceError(f"parameter {path!r}: {kind}(log=True) needs low > 0, got low={low!r}")


_FIXED_TYPES = (str, int, float, bool, type(None), list, tuple)


class Space:
    """A validated, flattened search space."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping) or not spec:
            raise SpaceError(
                f"space: expected a non-empty dict of parameter names to Float/Int/Choice/Bool or fixed values, got {spec!r}"
            )
        self.spec = spec
        self.params: dict[str, Param] = {}
        self.fixed: dict[str, Any] = {}
        self._flatten(spec, "")
        if not self.params:
            raise SpaceError("space: has no searchable parameter (only fixed values)")
        self.names = list(self.params)

    def _flatten(self, spec: Mapping[str, Any], prefix: str) -> None:
        for key, value in spec.items():
            if not isinstance(key, str) or not key or "." in key:
                raise SpaceError(f"space: parameter names must be non-empty strings without '.', got {key!r}")
            path = f"{prefix}{key}"
            if isinstance(value, Param):
                value.validate(path)
                self.params[path] = value
            elif isinstance(value, Mapping):
                if not value:
                    raise SpaceError(f"parameter {path!r}: a nested space must not be empty")
                self._flatten(value, path + ".")
            elif isinstance(value, _FIXED_TYPES):
                self.fixed[path] = value
            else:
                raise SpaceError(
                    f"parameter {path!r}: unknown type {type(value).__name__}; expected Float, Int, Choice, Bool, "
                    "a nested dict, or a fixed str/number/bool/list value"
                )

    # -- sampling and conversion --------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A uniformly random flat point."""
        return {name: p.sample(rng) for name, p in self.params.items()}

    def to_unit(self, flat: Mapping[str, Any]) -> np.ndarray:
        return np.array([self.params[n].to_unit(flat[n]) for n in self.names], dtype=float)

    def from_unit(self, u: np.ndarray) -> dict[str, Any]:
        return {n: self.params[n].from_unit(float(x)) for n, x in zip(self.names, u)}

    def clip(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """Clip a flat point into the space; raises ValueError naming a value that cannot fit."""
        return {n: self.params[n].clip(flat[n]) for n in self.names}

    def grid(self, resolution: int | None = None, float_resolution: int | None = None) -> list[dict[str, Any]]:
        """Every combination of the dimensions' discrete values, in a stable order. A ``Float`` axis
        without ``resolution`` gets ``float_resolution`` points (an ``Int`` keeps all its values)."""
        axes = []
        for name in self.names:
            param = self.params[name]
            try:
                axes.append(param.grid(resolution or (float_resolution if isinstance(param, Float) else None)))
            except SpaceError as exc:
                raise SpaceError(f"parameter {name!r}: {exc}") from None
        return [dict(zip(self.names, combo)) for combo in itertools.product(*axes)]

    def unflatten(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """The nested parameters for the objective: searched values plus fixed ones."""
        return unflatten(flat, self.fixed)

    def flatten_params(self, nested: Mapping[str, Any]) -> dict[str, Any]:
        """Searched values from nested (or already dotted) parameters; missing names are left out."""
        out: dict[str, Any] = {}
        for name in self.names:
            if name in nested:
                out[name] = nested[name]
                continue
            node: Any = nested
            for part in name.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                out[name] = node
        return out

    def describe(self) -> dict:
        return {"params": {n: p.describe() for n, p in self.params.items()}, "fixed": dict(self.fixed)}

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> "Space":
        """The space ``describe()`` wrote (a study's stored space), rebuilt."""
        kinds = {"float": Float, "int": Int, "bool": Bool}
        params: dict[str, Any] = {}
        for name, d in described["params"].items():
            if d["type"] == "choice":
                params[name] = Choice(d["options"])
            elif d["type"] in kinds:
                params[name] = kinds[d["type"]](**{k: v for k, v in d.items() if k != "type"})
            else:
                raise SpaceError(f"parameter {name!r}: unknown stored type {d['type']!r}")
        return cls(unflatten(params, described.get("fixed") or {}))

    def key(self, flat: Mapping[str, Any]) -> str:
        """A stable identity for a point, used to run each grid point once across processes."""
        import hashlib
        import json

        return hashlib.sha1(json.dumps([flat[n] for n in self.names], sort_keys=True, default=str).encode()).hexdigest()


def unflatten(flat: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Dotted parameter paths (``"model.lr"``), plus ``fixed`` ones, as the nested dict an objective gets."""
    nested: dict[str, Any] = {}
    for path, value in itertools.chain((fixed or {}).items(), flat.items()):
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested
