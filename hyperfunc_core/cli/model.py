"""``hyperfunc model serve | check``: a real model on this machine (see ``hyperfunc_core.local_model``)."""

from __future__ import annotations

from typing import Optional

import typer

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console

model_app = typer.Typer(help="A local model: a GGUF file served on 127.0.0.1.", no_args_is_help=True)
app.add_typer(model_app, name="model")

GGUF_HELP = "A .gguf model file (default: $HYPERFUNC_LOCAL_MODEL, else the bundled SmolLM2-135M)."


@model_app.command("serve")
def serve(
    gguf: Optional[str] = typer.Option(None, help=GGUF_HELP),
    port: int = typer.Option(8765, help="The port on 127.0.0.1."),
) -> None:
    """Serve the model (OpenAI-compatible, transformers serve) until Ctrl-C; prints the settings that use it."""
    from hyperfunc_core import local_model

    out = console()
    out.print(f"starting the local model server for {local_model.chosen_gguf(gguf)} (the first start converts it)")
    server = local_model.start_server(gguf, port, log=local_model.home() / "server.log", announce=True)
    options = server.gateway_options()
    out.print(f"serving on {server.api_base} (log: {local_model.home() / 'server.log'})")
    out.print("runs of this home with no model configured use it; from elsewhere, or to make it the default:")
    omitted = ",".join(local_model.OMITTED_PARAMS)
    tools = server.ways().get("tool_protocol", "auto")
    out.print(
        f"  export HYPERFUNC_MODEL={options['model']} HYPERFUNC_LLM_API_BASE={options['api_base']} "
        f"HYPERFUNC_LLM_OMIT_PARAMS={omitted} HYPERFUNC_LLM_TOOL_PROTOCOL={tools}",
        highlight=False,
    )
    try:
        server.process.wait()
    except KeyboardInterrupt:
        out.print("stopping the local model server")
    finally:
        server.stop()


@model_app.command("check")
def check(gguf: Optional[str] = typer.Option(None, help=GGUF_HELP)) -> None:
    """Start the model, time one completion through the gateway, stop it; `hyperfunc doctor` shows the figure."""
    from hyperfunc_core import local_model

    with local_model.start_server(gguf, log=local_model.home() / "server.log") as server:
        figure = local_model.measure_speed(server)
    console().print(
        f"{figure['gguf']} ({figure['size_mb']} MB): {figure['completion_tokens']} tokens in {figure['seconds']} s, "
        f"{figure['tokens_per_s']} tokens/s",
        highlight=False,
    )
