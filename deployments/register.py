"""Register the deployments ``prefect.yaml`` describes, from Python (``hyperfunc deploy``).

``prefect.yaml`` is the one description of the deployments: ``prefect deploy`` reads it, and
so does this module, which validates every entrypoint and parameter set and applies them to
the current Prefect API with ``RunnerDeployment``, making the process work pool if missing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import yaml

from hyperfunc_core.validation import InvalidInput

PREFECT_YAML = Path(__file__).with_name("prefect.yaml")
PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class DeploymentSpec:
    name: str
    entrypoint: str
    parameters: dict[str, Any]
    schedules: list[dict[str, Any]]
    work_pool: str
    work_queue: str = "default"
    description: str = ""
    tags: list[str] = field(default_factory=list)
    concurrency_limit: int | None = None  # flow runs of this deployment at once; later ones wait their turn

    def schedule_text(self) -> str:
        return ", ".join(f"cron {s['cron']}" if "cron" in s else f"every {s['interval']} s" for s in self.schedules)


@dataclass
class AppliedDeployment:
    full_name: str  # flow/deployment, as `prefect deployment run` takes it
    id: str
    pool: str
    spec: DeploymentSpec


def load_specs(path: str | Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """Every deployment of ``prefect.yaml``, checked for the keys a deployment needs."""
    document = yaml.safe_load(Path(path).read_text())
    specs = []
    for raw in document.get("deployments") or []:
        missing = [k for k in ("name", "entrypoint", "work_pool") if not raw.get(k)]
        if missing:
            raise InvalidInput(f"{path}: deployment {raw.get('name', '?')!r} lacks {', '.join(missing)}")
        pool = raw["work_pool"]
        specs.append(
            DeploymentSpec(
                raw["name"],
                raw["entrypoint"],
                dict(raw.get("parameters") or {}),
                list(raw.get("schedules") or []),
                pool["name"],
                pool.get("work_queue_name") or "default",
                raw.get("description") or "",
                list(raw.get("tags") or []),
                raw.get("concurrency_limit"),
            )
        )
    if not specs:
        raise InvalidInput(f"{path}: no deployments")
    return specs


@contextmanager
def in_project() -> Iterator[Path]:
    """Entrypoints are relative to the project folder; load and register from there."""
    before = Path.cwd()
    os.chdir(PROJECT_DIR)
    try:
        yield PROJECT_DIR
    finally:
        os.chdir(before)


def load_flow(entrypoint: str):
    from prefect.flows import load_flow_from_entrypoint

    with in_project():
        return load_flow_from_entrypoint(entrypoint)


def schedule_objects(spec: DeploymentSpec) -> list:
    """``cron`` (with ``timezone``) or ``interval`` (seconds) entries as Prefect schedules."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    out = []
    for entry in spec.schedules:
        if "cron" in entry:
            out.append(CronSchedule(cron=entry["cron"], timezone=entry.get("timezone", "UTC")))
        elif "interval" in entry:
            out.append(
                IntervalSchedule(
                    interval=timedelta(seconds=float(entry["interval"])), timezone=entry.get("timezone", "UTC")
                )
            )
        else:
            raise InvalidInput(f"deployment {spec.name!r}: schedule {entry!r} has neither cron nor interval")
    return out


def validate(spec: DeploymentSpec) -> dict[str, Any]:
    """The flow loads, its parameters bind to its signature (types checked), its schedules parse."""
    flow = load_flow(spec.entrypoint)
    params = flow.validate_parameters(spec.parameters)
    schedule_objects(spec)
    return params


def ensure_work_pool(name: str, pool_type: str = "process") -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type))
        except ObjectAlreadyExists:
            pass


def apply_deployments(
    names: list[str] | None = None,
    work_pool: str | None = None,
    with_schedules: bool = True,
    path: str | Path = PREFECT_YAML,
) -> list[AppliedDeployment]:
    """Validate and apply the deployments (all, or ``names``)."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner.storage import LocalStorage

    specs = load_specs(path)
    unknown = sorted(set(names or []) - {s.name for s in specs})
    if unknown:
        raise InvalidInput(
            f"names: no deployment {', '.join(unknown)}; expected some of {', '.join(s.name for s in specs)}"
        )
    applied = []
    for spec in specs:
        if names and spec.name not in names:
            continue
        validate(spec)
        pool = work_pool or spec.work_pool
        ensure_work_pool(pool)
        with in_project():
            deployment = RunnerDeployment.from_entrypoint(
                spec.entrypoint,
                name=spec.name,
                parameters=spec.parameters,
                description=spec.description,
                tags=spec.tags,
                schedules=schedule_objects(spec) if with_schedules else None,
                work_pool_name=pool,
                work_queue_name=spec.work_queue,
                concurrency_limit=spec.concurrency_limit,
            )
            # Run the code where it is: without this, every flow run copies the whole project folder
            # (its .venv too, 2 GB here) into the worker's scratch folder first, 13-56 s per run.
            deployment.storage = LocalStorage(str(PROJECT_DIR))
            deployment_id = str(deployment.apply(work_pool_name=pool))
        applied.append(AppliedDeployment(f"{deployment.flow_name}/{spec.name}", deployment_id, pool, spec))
    return applied
