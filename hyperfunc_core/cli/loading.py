"""What the commands share: the console results are printed on."""

from __future__ import annotations

from hyperfunc_core.live_display import output_console as console

__all__ = ["console"]
