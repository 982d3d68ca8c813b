"""``hyperfunc evolve``, ``hyperfunc evaluate`` and ``hyperfunc archive show``; the examples' runner."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.table import Table

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console
from hyperfunc_core.model_choice import LOCAL, chosen_model
from hyperfunc_core.validation import InvalidInput

archive_app = typer.Typer(help="Read evolution archives.", no_args_is_help=True)
app.add_typer(archive_app, name="archive")


def _agents(domain_name: str, model: str | None, api_base: str | None, api_key: str | None):
    from hyperfunc_core.agents import AgentOptions, TaskAgent
    from hyperfunc_core.domains import get_domain

    options = dict(model=model, api_base=api_base, api_key=api_key)
    return get_domain(domain_name), (lambda tools: TaskAgent(AgentOptions(tools=tools, **options)))


def _say(text: str) -> None:
    console().print(text, style="bold cyan", highlight=False)


def run_evolution(domain_name: str, repo: str, *, local: bool = False, **options):
    """``evolve_domain`` on the chosen model (``model_choice``), with the archive and the outcome printed."""
    from hyperfunc_core.jobs import evolution_config, evolve_domain

    evolution_config({"domain": domain_name, "repo": repo, **options})  # bad input fails before a model starts
    with chosen_model(options.pop("model", None), options.pop("api_base", None), say=_say) as choice:
        if choice.kind == LOCAL and options.get("eval_samples") is None:
            _say("every task of each split will be asked; --eval-samples N keeps a CPU model's run short")
        options.update(choice.options)
        result = evolve_domain(domain_name, repo, orchestrate=not local, show_progress=True, **options)
    show_archive(result.output_dir)
    console().print(
        f"stopped: {result.stop_reason}; best generation {result.best_gen} "
        f"(validation {result.best_score}; test {(result.test or {}).get('score', 'n/a')}); "
        f"LLM cost ${result.cost_usd:.4f}; report: {result.report}"
    )
    console().print(f"agent code ran in {result.execution}")
    return result


def run_evaluation(
    domain_name: str,
    workdir: str | None,
    *,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    output: str | None = None,
    eval_samples: int | None = None,
):
    """One evaluation of the TaskAgent on the domain, on the chosen model (``model_choice``):
    predictions.json and report.json, no archive."""
    from hyperfunc_core.concurrency import run_coroutine
    from hyperfunc_core.domains import get_domain, run_harness

    get_domain(domain_name)  # bad input fails before a model starts
    with chosen_model(model, api_base, say=_say) as choice:
        options = {"api_key": api_key, **choice.options}
        domain, factory = _agents(domain_name, options.get("model"), options.get("api_base"), options["api_key"])
        folder = Path(workdir) if workdir else None
        domain.bind_workspace(folder)
        agent = factory(domain.tools(folder))
        agent.workdir = folder
        if folder is not None and (folder / "prompts" / "task_agent.txt").exists():
            agent.options.prompt_file = "prompts/task_agent.txt"  # the example's editable prompt
        out = Path(output or f"outputs/{domain_name}_eval")
        summary = run_coroutine(run_harness(domain, agent, out, num_samples=eval_samples))
    console().print(
        f"{domain_name}: average score {summary.average_score:.3f} over {summary.n} tasks "
        f"({summary.errors} errors); results in {out}"
    )
    return summary


def show_archive(run: str, storage: str | None = None, gen: str | None = None) -> str:
    """Print the family tree and the generations of RUN (an output folder or a run name); with ``gen``,
    that generation instead: its scores, its patch's files and the MetaAgent's whole transcript."""
    from hyperfunc_core.evolution import load_archive
    from hyperfunc_core.evolution.report import family_tree, savings_line, stage_note

    folder = Path(run)
    if not (folder / "archive.jsonl").exists():
        from sqlmodel import select

        from hyperfunc_core.storage import session_scope
        from hyperfunc_core.storage.models import EvolutionRun

        with session_scope(storage) as session:
            found = session.exec(select(EvolutionRun).where(EvolutionRun.name == run)).first()
        if found is None:
            raise InvalidInput(f"RUN: {run!r} is neither a folder with an archive.jsonl nor a stored run name")
        folder = Path(found.output_dir)
    data = load_archive(folder)
    if gen is not None:
        return show_generation(folder, data, gen)
    tree = family_tree(data)
    out = console()
    out.print(f"[bold]{folder}[/]")
    out.print(tree, highlight=False)
    table = Table(title="generations")
    for column in ("gen", "parent", "train", "validation", "valid", "tokens", "cost $", "stopped early / error"):
        table.add_column(column)
    for g in data.archive:
        e = data.entry(g)
        usage = e.metadata.get("usage", {})
        spread = e.metadata.get("score_spread") or {}
        repeats = f" ±{statistics.fmean(spread.values()):.3f} ({e.metadata['eval_repeats']}×)" if spread else ""
        train, validation = e.mean_on("train"), e.mean_on("validation")
        table.add_row(
            str(g),
            str(e.parent_id),
            "" if train is None else f"{train:.3f}",
            "" if validation is None else f"{validation:.3f}{repeats}",
            str(e.valid_parent),
            str(usage.get("total_tokens", 0)),
            f"{usage.get('cost_usd', 0.0):.4f}",
            stage_note(e)[:60],
        )
    out.print(table)
    out.print(f"staged evaluation: {savings_line(data)}", highlight=False)
    out.print(f"best on test: {test_line(folder)}", highlight=False)
    return tree


def test_line(folder: Path) -> str:
    """The run's test.json as one line: which generation was scored on test, and what it scored."""
    from hyperfunc_core.evolution.loop import TEST_FILE

    try:
        test = json.loads((folder / TEST_FILE).read_text())
    except (OSError, ValueError):
        return "not scored yet (the run has not ended, or its domains have no test split)"
    if test.get("error"):
        return f"gen {test.get('gen_id')} failed: {test['error']}"
    scores = ", ".join(f"{d} {v:.3f}" for d, v in (test.get("scores") or {}).items())
    return f"gen {test.get('gen_id')}: {test.get('score', 0.0):.3f} ({scores}); chosen on validation"


def show_generation(folder: Path, data: Any, gen: str) -> str:
    """One generation as a person reads it: what it was scored, what changed, and why (the transcript)."""
    from rich.markup import escape

    from hyperfunc_core.evolution.archive import PATCH_FILE, TRANSCRIPT_FILE, gen_dir
    from hyperfunc_core.evolution.report import stage_note

    if gen not in {str(g) for g in data.archive}:
        raise InvalidInput(f"--gen: no generation {gen!r} in {folder}; it has {', '.join(map(str, data.archive))}")
    entry, out, lines = data.entry(gen), console(), []
    usage = entry.metadata.get("usage", {})
    lines.append(f"generation {gen} of {folder}: parent {entry.parent_id}, valid parent {entry.valid_parent}")
    spread = entry.metadata.get("score_spread") or {}
    for split in ("train", "validation"):
        shown = spread if split == "validation" or not entry.split_scores("validation") else {}
        scored = [
            f"{d} {s:.3f}" + (f" ±{shown[d]:.3f}" if d in shown else "") for d, s in entry.split_scores(split).items()
        ]
        repeats = f" (mean of {entry.metadata['eval_repeats']} evaluations ± their spread)" if shown else ""
        lines.append(f"{split}: " + (", ".join(scored) or "none") + repeats)
    if stage_note(entry) and not entry.metadata.get("error"):
        lines.append(stage_note(entry))
    lines.append(f"tokens {usage.get('total_tokens', 0)}, cost ${usage.get('cost_usd', 0.0):.4f}")
    if entry.metadata.get("error"):
        lines.append(f"error: {entry.metadata['error']}")
    patch = gen_dir(folder, gen) / PATCH_FILE
    if patch.exists():
        changed = [line[6:] for line in patch.read_text().splitlines() if line.startswith("+++ b/")]
        lines.append(f"patch {patch}: {', '.join(changed) or 'no change'}")
    saved = gen_dir(folder, gen) / TRANSCRIPT_FILE
    if not saved.exists():
        lines.append("no MetaAgent transcript (the initial generation, or a run from before transcripts were kept)")
    else:
        record = json.loads(saved.read_text())
        lines.append(f"MetaAgent transcript ({record.get('steps')} turns):")
        for message in record.get("transcript", []):
            lines.extend(_transcript_lines(message))
    text = "\n".join(lines)
    out.print(escape(text), highlight=False)
    return text


def _transcript_lines(message: dict, width: int = 600) -> list[str]:
    """A transcript message in a few readable lines: who, what it said, which tools it called."""

    def cut(value: Any) -> str:
        value = str(value or "").strip()
        value = value if len(value) <= width else value[:width] + f" ... ({len(value)} characters)"
        return value.replace("\n", "\n      ")  # continuation lines under their message

    role = message.get("role")
    if role == "tool":
        return [f"  [tool {message.get('name')}] {cut(message.get('content'))}"]
    spent = message.get("usage") or {}
    head = f"  [{role}]" + (
        f" ({spent.get('total_tokens', 0)} tokens, ${spent.get('cost_usd', 0.0):.4f})" if spent else ""
    )
    out = [f"{head} {cut(message.get('content'))}".rstrip()]
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        out.append(f"    -> {function.get('name')}({cut(function.get('arguments'))})")
    return out


@app.command()
def evolve(
    domain: str = typer.Argument(..., help="bash, scoring, factcheck, calculator or paper_review"),
    repo: str = typer.Option(".", help="The agent's repository (a git repository or a folder inside one)."),
    generations: int = typer.Option(5, help="Generations after the initial one."),
    model: Optional[str] = typer.Option(None, help="litellm model string (default: HYPERFUNC_MODEL)."),
    api_base: Optional[str] = typer.Option(None, help="The model's endpoint, if not the provider's default."),
    output: Optional[str] = typer.Option(None, help="Run folder (default: $HYPERFUNC_HOME/runs/evolution/DOMAIN)."),
    parent_selection: str = typer.Option("score_child_prop", help="random, latest, best, score_prop, score_child_prop"),
    eval_samples: Optional[int] = typer.Option(None, help="Tasks per evaluation (default: all)."),
    eval_repeats: int = typer.Option(1, help="Evaluate each generation N times; its score is the mean."),
    children: int = typer.Option(1, help="MetaAgent attempts per generation, run concurrently."),
    staged_sample: Optional[float] = typer.Option(
        None, help="Evaluate this share of the train tasks first (e.g. 0.1); the rest only for a child that keeps up."
    ),
    staged_threshold: float = typer.Option(
        1.0, help="With --staged-sample: the share of its parent's sample score a child must reach."
    ),
    budget: Optional[float] = typer.Option(None, help="Stop cleanly once the run's LLM cost reaches this (USD)."),
    prompts_dir: Optional[str] = typer.Option(None, help="Editable prompt files, relative to the repository."),
    run_name: Optional[str] = typer.Option(None),
    local: bool = typer.Option(False, "--local", help="Run the plain loop instead of the Prefect flow."),
    executor: str = typer.Option(
        "auto",
        help="Where generations run: auto (the strongest that starts here), "
        "docker (a container per generation; see `hyperfunc executor`), "
        "sandbox (bubblewrap) or local (no isolation).",
    ),
    image: Optional[str] = typer.Option(None, help="The Docker executor's image (default hyperfunc-executor:latest)."),
) -> None:
    """Evolve DOMAIN's agent: the MetaAgent edits the repository, generation after generation."""
    run_evolution(
        domain,
        repo,
        generations=generations,
        model=model,
        api_base=api_base,
        output=output,
        parent_selection=parent_selection,
        eval_samples=eval_samples,
        eval_repeats=eval_repeats,
        children=children,
        staged_sample=staged_sample,
        staged_threshold=staged_threshold,
        budget=budget,
        prompts_dir=prompts_dir,
        local=local,
        run_name=run_name,
        executor=executor,
        image=image,
    )


@app.command()
def evaluate(
    domain: str = typer.Argument(..., help="bash, scoring, factcheck, calculator or paper_review"),
    workdir: Optional[str] = typer.Option(None, help="Folder with the agent's files (tools, prompts)."),
    model: Optional[str] = typer.Option(None),
    api_base: Optional[str] = typer.Option(None),
    output: Optional[str] = typer.Option(None, help="Where predictions.json and report.json go."),
    eval_samples: Optional[int] = typer.Option(None),
) -> None:
    """Evaluate the TaskAgent once on DOMAIN (no evolution)."""
    run_evaluation(domain, workdir, model=model, api_base=api_base, output=output, eval_samples=eval_samples)


@archive_app.command("show")
def archive_show(
    run: str = typer.Argument(..., help="A run folder or a stored run name"),
    storage: Optional[str] = typer.Option(None),
    gen: Optional[str] = typer.Option(None, "--gen", help="Show one generation: scores, patch, MetaAgent transcript"),
) -> None:
    """Print RUN's family tree with scores, and its generations (or one of them, with --gen)."""
    show_archive(run, storage, gen)


@archive_app.command("commit")
def archive_commit(
    run: str = typer.Argument(..., help="A run folder"),
    gen: Optional[str] = typer.Option(None, "--gen", help="The generation to commit (default: the best)"),
    branch: Optional[str] = typer.Option(None, help="The new branch (default hyperfunc/<run>-gen-<N>)"),
) -> None:
    """Commit a generation's lineage to a new branch of the agent's repository, one commit per generation."""
    from hyperfunc_core.evolution.git_commits import commit_lineage

    made, commits = commit_lineage(run, gen, branch)
    console().print(f"branch {made}: {len(commits)} commits ({', '.join(c[:10] for c in commits) or 'no change'})")


def example_main(
    domain: str,
    example_file: str,
    argv: list[str] | None = None,
    explain: Callable[[Path], None] | None = None,
    **evolve_options: Any,
) -> int:
    """``python run.py`` (single eval) or ``python run.py evolve`` for an example folder; ``explain``
    reads the evaluation's folder afterwards and says what is special about the domain's results;
    ``evolve_options`` go to ``evolve_domain`` (children, staged_sample, ...)."""
    folder = Path(example_file).resolve().parent
    parser = argparse.ArgumentParser(description=f"The {domain} example: evaluate once, or evolve.")
    parser.add_argument("mode", nargs="?", choices=["eval", "evolve"], default="eval")
    parser.add_argument("--model", help="litellm model string (default: HYPERFUNC_MODEL)")
    parser.add_argument("--api-base")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--eval-samples", type=int)
    parser.add_argument("--output")
    parser.add_argument("--local", action="store_true", help="the plain loop instead of the Prefect flow")
    parser.add_argument(
        "--executor",
        choices=["auto", "local", "sandbox", "docker"],
        default="auto",
        help="where generations run (auto: the strongest that starts here; docker: build the image "
        "first, hyperfunc executor build-image)",
    )
    args = parser.parse_args(argv)
    if args.mode == "eval":
        out = Path(args.output or folder / "outputs" / f"{domain}_eval")
        run_evaluation(
            domain,
            str(folder),
            model=args.model,
            api_base=args.api_base,
            output=str(out),
            eval_samples=args.eval_samples,
        )
        if explain is not None:
            explain(out)
    else:
        run_evolution(
            domain,
            str(folder),
            generations=args.generations,
            model=args.model,
            api_base=args.api_base,
            output=args.output or str(folder / "outputs" / f"{domain}_evolution"),
            prompts_dir="prompts",
            eval_samples=args.eval_samples,
            local=args.local,
            executor=args.executor,
            **evolve_options,
        )
    return 0


def label_mistakes(out: Path, labels: tuple[str, str]) -> dict[tuple[str, str], int]:
    """How often each expected label (of a two-label domain) got each answer, from predictions.json:
    ``{(expected, answered): count}``, an answer outside ``labels`` counted as "other"."""
    counts: dict[tuple[str, str], int] = {}
    for p in json.loads((out / "predictions.json").read_text()):
        answered = str(p.get("prediction") or "").strip().lower().rstrip(".")
        key = (str(p.get("expected")), answered if answered in labels else "other")
        counts[key] = counts.get(key, 0) + 1
    return counts
