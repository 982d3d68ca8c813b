"""Optional OpenTelemetry spans and metrics around hyperfunction calls, LLM calls, trials and ES steps."""

from hyperfunc_core.observability.telemetry import disable, enable, enabled, record, set_attributes, span

__all__ = ["disable", "enable", "enabled", "record", "set_attributes", "span"]
