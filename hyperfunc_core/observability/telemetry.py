"""OpenTelemetry around the engines' units of work, off unless switched on.

Switch on with ``HYPERFUNC_OTEL=1`` (spans and metrics go to the global providers that
the OpenTelemetry SDK or its environment variables configured) or ``enable(...)`` with
providers of your own. When off, ``span`` yields ``None`` after one boolean check and
``record`` returns at once: instrumented code pays nothing else.

Spans (each with a ``hyperfunc.*`` attribute set): ``hyperfunction.call``,
``llm.completion``, ``tuning.trial``, ``es.step``, ``evolution.generation``. Metrics: the counter ``hyperfunc.calls``
and the histogram ``hyperfunc.call.duration`` (seconds), both with ``kind``, ``name`` and
``ok`` attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_state: dict[str, Any] = {"enabled": None, "tracer": None, "calls": None, "duration": None}


def enabled() -> bool:
    if _state["enabled"] is None:
        from hyperfunc_core.settings import get_settings

        if get_settings().otel:
            enable()
        else:
            _state["enabled"] = False
    return bool(_state["enabled"])


def enable(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send spans and metrics to these providers (default: OpenTelemetry's global ones)."""
    from opentelemetry import metrics, trace

    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("hyperfunc")
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("hyperfunc")
    _state.update(
        enabled=True,
        tracer=tracer,
        calls=meter.create_counter("hyperfunc.calls", description="hyperfunction, LLM, trial and ES step calls"),
        duration=meter.create_histogram("hyperfunc.call.duration", unit="s", description="how long each call took"),
    )


def disable() -> None:
    _state.update(enabled=False, tracer=None, calls=None, duration=None)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span named ``name`` with ``hyperfunc.<key>`` attributes, or ``None`` when telemetry is off."""
    if not enabled():
        yield None
        return
    with _state["tracer"].start_as_current_span(name, attributes=_attributes(attributes)) as current:
        yield current


def set_attributes(current: Any, **attributes: Any) -> None:
    if current is not None:
        current.set_attributes(_attributes(attributes))


def record(kind: str, name: str, seconds: float, ok: bool) -> None:
    """Count one call and its duration."""
    if not enabled():
        return
    labels = {"kind": kind, "name": name, "ok": ok}
    _state["calls"].add(1, labels)
    _state["duration"].record(seconds, labels)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        out[f"hyperfunc.{key}"] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return out
