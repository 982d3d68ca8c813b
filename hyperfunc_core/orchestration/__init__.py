"""What every engine's flows share about running under Prefect."""

from hyperfunc_core.orchestration.progress import ProgressArtifact, artifact_key
from hyperfunc_core.orchestration.task_logs import quiet_task_logs

__all__ = ["ProgressArtifact", "artifact_key", "quiet_task_logs"]
