"""Reading structure out of a model's text: JSON wrapped in chatter, and tool calls written as text.

Not every model or server does native function calling. Small local models write a tool call
as text (``<tool_call>{...}</tool_call>``, the format of Hermes-style chat templates and of the
HyperAgents loop), and servers such as ``transformers serve`` or ``llama-server`` without a
matching chat template refuse ``tools=`` or pass the call through as plain text. The gateway uses
this module both ways: it describes the tools in the prompt and replays earlier calls and results
as text, then reads the calls back out of the reply, so agents see ``ToolCall``s either way.
"""

from __future__ import annotations

import json
import re
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (models wrap JSON in prose and fences)."""
    if not isinstance(text, str):
        raise ValueError(f"the LLM returned {type(text).__name__}, not text")
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    raise ValueError(f"no JSON object in the LLM's answer: {text[:200]!r}")


def instructions(tools: list[dict]) -> str:
    """The system text that tells a model without native tools how to call ``tools`` (OpenAI schemas)."""
    lines = [
        "You can use tools. To call a tool, reply with one block of exactly this form per call, and "
        "nothing after the last one:",
        f'{OPEN}{{"name": "TOOL_NAME", "arguments": {{...}}}}{CLOSE}',
        'Each result comes back in a <tool_result name="TOOL_NAME"> block. When you need no tool, answer '
        f"normally, without a {OPEN} block.",
        "Tools:",
    ]
    for tool in tools:
        function = tool.get("function", tool)
        lines.append(f"- {function['name']}: {function.get('description', '')}")
        lines.append(f"  arguments (JSON schema): {json.dumps(function.get('parameters', {}), sort_keys=True)}")
    return "\n".join(lines)


def as_text_messages(messages: list[dict], tools: list[dict]) -> list[dict]:
    """``messages`` for a model that reads tools as text: the tools described in the system message,
    earlier calls as ``<tool_call>`` blocks, tool results as user text; consecutive messages of one
    role merged (strict chat templates want user and assistant to alternate)."""
    text = instructions(tools)
    if messages and messages[0].get("role") == "system":
        out = [{"role": "system", "content": f"{messages[0].get('content') or ''}\n\n{text}".strip()}]
        rest = messages[1:]
    else:
        out, rest = [{"role": "system", "content": text}], messages
    names: dict[str, str] = {}
    for message in rest:
        role, content = message.get("role"), message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            blocks = []
            for call in message["tool_calls"]:
                function = call.get("function", {})
                names[call.get("id", "")] = function.get("name", "?")
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except json.JSONDecodeError:
                    arguments = function.get("arguments")
                blocks.append(f"{OPEN}{json.dumps({'name': function.get('name'), 'arguments': arguments})}{CLOSE}")
            out.append({"role": "assistant", "content": "\n".join([content, *blocks]).strip()})
        elif role == "tool":
            name = names.get(message.get("tool_call_id", ""), message.get("name", "?"))
            out.append({"role": "user", "content": f'<tool_result name="{name}">\n{content}\n</tool_result>'})
        else:
            out.append({"role": role, "content": content})
    merged: list[dict] = []
    for message in out:
        if merged and merged[-1]["role"] == message["role"] and message["role"] != "system":
            merged[-1] = {**merged[-1], "content": f"{merged[-1]['content']}\n\n{message['content']}"}
        else:
            merged.append(message)
    return merged


def read_tool_calls(content: str | None, tool_names: set[str]) -> tuple[str | None, list[dict]]:
    """The calls written in ``content``: (the text before them, ``[{"name", "arguments"}]``).

    ``<tool_call>`` blocks first (the last may lack its closing tag: the model stopped there);
    failing those, a whole reply that is one JSON object naming a known tool, fenced or not.
    Arguments that are not a JSON object come back as a string, for the agent to report."""
    if not content:
        return content, []
    if OPEN in content:
        before, *blocks = content.split(OPEN)
        calls = [_call(block.split(CLOSE, 1)[0]) for block in blocks]
        return before.strip() or None, [c for c in calls if c is not None]
    bare = _FENCE.sub("", content.strip())
    if bare.startswith("{"):
        call = _call(bare)
        if call is not None and call["name"] in tool_names:
            return None, [call]
    return content, []


def _call(text: str) -> dict | None:
    try:
        found = extract_json(text)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    name = found.get("name") or found.get("tool") or found.get("function")
    if not isinstance(name, str):
        return None
    arguments = found.get("arguments", found.get("parameters", found.get("args", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    return {"name": name, "arguments": arguments}


def refuses_tools(exc: BaseException) -> bool:
    """Whether a failed call's error says the model or server does not take ``tools=`` (then the
    gateway writes them as text instead): a 4xx answer naming tools or function calling, or
    litellm's own ``UnsupportedParamsError``."""
    if type(exc).__name__ == "UnsupportedParamsError":
        return True
    status = getattr(exc, "status_code", None)
    said = str(exc).lower()
    return (
        isinstance(status, int)
        and 400 <= status < 500
        and status != 429
        and any(word in said for word in ("tool", "function call", "function_call", "functions"))
    )
