"""Passing large objects to tasks untouched, on any task runner.

``quote()`` keeps Prefect from walking an argument, but it is a namedtuple, and Dask repacks
tuples in a task's arguments into plain ones, so the task would receive a tuple. ``carry()``
wraps the value in a plain object neither walks nor repacks; the task unwraps it.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Carried(Generic[T]):
    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Carried({type(self.value).__name__})"


def carry(value: T) -> Carried[T]:
    return Carried(value)


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Carried) else value
