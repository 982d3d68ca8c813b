"""Task runners by name: where a flow's trials or population shards run.

``thread`` (the default) runs them on a thread pool in the flow's process. ``dask`` runs them
on a Dask cluster through prefect-dask: a local cluster of ``workers`` in-process workers by
default (objectives and systems need not be picklable), or an existing cluster with
``HYPERFUNC_DASK_ADDRESS=tcp://scheduler:8786``, whose workers must be able to import the
objective's or system's module. An instance of any Prefect ``TaskRunner`` is used as it is.

Prefect gives every subflow (an ES epoch, a generation) a duplicate of its flow's task runner. A
Dask runner duplicated without an address would start a new local cluster per epoch, so the local
cluster is started here, once per run, and every runner reaches it by its address.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from hyperfunc_core.validation import InvalidInput

TASK_RUNNERS = ("thread", "dask")


def check_task_runner(task_runner: Any) -> None:
    """Fail fast, before any work, on a name we do not know or a dask without prefect-dask."""
    if isinstance(task_runner, TaskRunner):
        return
    if task_runner not in TASK_RUNNERS:
        raise InvalidInput(
            f"task_runner: expected one of {', '.join(TASK_RUNNERS)} or a Prefect TaskRunner, got {task_runner!r}"
        )
    if task_runner == "dask":
        try:
            import prefect_dask  # noqa: F401
        except ImportError:
            raise InvalidInput("task_runner: 'dask' needs prefect-dask (pip install -e .[dask])") from None


@contextmanager
def task_runner_for(task_runner: Any, workers: int) -> Iterator[TaskRunner]:
    """The task runner a run's flow (and its subflows) use; a local Dask cluster lives as long as the run."""
    check_task_runner(task_runner)
    if isinstance(task_runner, TaskRunner):
        yield task_runner
        return
    if task_runner == "thread":
        yield ThreadPoolTaskRunner(max_workers=workers)
        return
    from prefect_dask import DaskTaskRunner

    address = os.environ.get("HYPERFUNC_DASK_ADDRESS")
    if address:
        yield DaskTaskRunner(address=address)
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=max(2, workers), threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield DaskTaskRunner(address=cluster.scheduler_address)
