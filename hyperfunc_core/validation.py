"""Bad input, told apart from everything else that can go wrong.

Every entry (``tune``, ``optimize``, ``run_generate_loop``, the CLI, the deployments) checks its
arguments before any server starts or work begins, and raises ``InvalidInput`` with one line that
names the parameter, the value and what was expected. It is a ``ValueError``, so Python callers
catch it as before; the CLI prints its message alone (exit code 2) where anything else is a bug or
the user's own code failing, and keeps its traceback.
"""

from __future__ import annotations


class InvalidInput(ValueError):
    """An argument, option or configuration the caller can fix; the message says how."""
