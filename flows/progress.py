"""Prefect artifacts for long loops: a progress bar a loop can update as often as it likes,
reports with their plots embedded, and the one way artifact keys are made from names.

Each progress update is an API call; on a busy server one can take tens of milliseconds. The loop
must never wait for it, so updates go to one background thread, at most one a second, and
only the newest value is sent. ``finish`` sends the final value and waits for it.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from pathlib import Path


class ProgressArtifact:
    """``update(percent)`` from the loop; ``finish(percent)`` once at the end."""

    def __init__(self, description: str, percent: float = 0.0, min_interval_s: float = 1.0) -> None:
        from prefect.artifacts import create_progress_artifact

        self.artifact_id = create_progress_artifact(progress=_clamp(percent), description=description)
        self.min_interval_s = min_interval_s
        self._wanted: float | None = None
        self._sent_at = time.monotonic()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._sender, name="progress-artifact", daemon=True)
        self._thread.start()

    def update(self, percent: float) -> None:
        with self._cond:
            self._wanted = _clamp(percent)
            self._cond.notify()

    def finish(self, percent: float) -> None:
        with self._cond:
            self._wanted, self._closed = _clamp(percent), True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _sender(self) -> None:
        from prefect.artifacts import update_progress_artifact

        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                if self._wanted is None:
                    return
                wait = self._sent_at + self.min_interval_s - time.monotonic()
                if wait > 0 and not self._closed:
                    self._cond.wait(wait)
                    continue
                percent, self._wanted = self._wanted, None
                closing = self._closed
            try:
                update_progress_artifact(self.artifact_id, progress=percent)
            except Exception:  # noqa: BLE001 - progress is a convenience; the loop's results are elsewhere
                pass
            self._sent_at = time.monotonic()
            if closing and self._wanted is None:
                return


def embedded_images(markdown: str, folder: Path) -> str:
    """``markdown`` with each relative ``![alt](plot.png)`` replaced by the image itself (a data URI):
    the UI renders an artifact without the run's folder, where a relative link would be broken."""

    def embed(match: re.Match) -> str:
        path = folder / match.group(2)
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f"![{match.group(1)}](data:image/png;base64,{data})"

    return re.sub(r"!\[([^\]]*)\]\((?![a-z]+:)([^)\s]+\.png)\)", embed, markdown)


def artifact_key(prefix: str, name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for a study or run name."""
    return f"{prefix}-" + re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def _clamp(percent: float) -> float:
    return max(0.0, min(100.0, float(percent)))
