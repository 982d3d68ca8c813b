"""Run the calculator evolution loop in its own process (for the crash/resume test).

argv: api_base output_dir repo_path storage crash_marker [children]. When ``crash_marker`` does
not exist yet, the process dies (os._exit) in the middle of generation 1's evaluation, after
its MetaAgent finished, and leaves the marker; the next run resumes. With ``children`` > 1 (run
concurrently), it dies in the first evaluation that starts after one child was archived.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hyperfunc_core import (
    AgentOptions,
    GenerateLoopConfig,
    MetaAgent,
    TaskAgent,
    get_framework_tools,
    run_generate_loop,
)  # noqa: E402
from hyperfunc_core.domains import CalculatorDomain  # noqa: E402
from hyperfunc_core.evolution import load_archive  # noqa: E402

api_base, output_dir, repo, storage, marker = sys.argv[1:6]
children = int(sys.argv[6]) if len(sys.argv) > 6 else 1


class CrashingCalculator(CalculatorDomain):
    async def evaluate(self, prediction, task):
        if "gen_1" in str(os.environ.get("HF_GEN", "")) or self._in_gen1():
            if not Path(marker).exists():
                Path(marker).write_text("crashed")
                os._exit(17)
        return await super().evaluate(prediction, task)

    def _in_gen1(self) -> bool:
        if children > 1:
            return any(str(g) != "initial" for g in load_archive(output_dir).archive)
        return (Path(output_dir) / "gen_1" / "metadata.json").exists()


options = dict(model="openai/gpt-4o-mini", api_base=api_base, api_key="k")
result = run_generate_loop(
    GenerateLoopConfig(
        domains=[CrashingCalculator()],
        meta_agent=MetaAgent(AgentOptions(**options)),
        task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
        tools=get_framework_tools(),
        output_dir=output_dir,
        repo_path=repo,
        storage=storage,
        max_generations=3 if children == 1 else 1,
        children_per_generation=children,
    )
)
print("STOP", result.stop_reason, result.best_score)
