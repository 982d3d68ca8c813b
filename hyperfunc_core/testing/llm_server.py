"""A local OpenAI-compatible chat server that answers from a script.

Tests, benchmarks and offline examples point litellm at it (``api_base=server.api_base``)
so that the real client path runs: HTTP, retries, tool-call parsing, token accounting.
The server records every request it receives, with the time it arrived, so tests can
count calls and measure rate limits from the server's side.

A script is a sequence of ``Reply`` values consumed in order, a callable that maps the
request body to a ``Reply``, or both (the sequence first, then the callable).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict], "Reply"]


@dataclass
class Reply:
    """One scripted answer: a completion, an HTTP error or a malformed body, after a delay."""

    content: str | None = None
    tool_calls: list[dict] = field(default_factory=list)
    status: int = 200
    error_message: str = ""
    raw_body: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def text(content: str, **kw: Any) -> Reply:
    """A plain assistant message."""
    return Reply(content=content, **kw)


def tool_call(name: str, arguments: dict | str, **kw: Any) -> Reply:
    """An assistant message that calls one tool (``arguments`` may be a raw string)."""
    return Reply(tool_calls=[{"name": name, "arguments": arguments}], **kw)


def tool_calls(calls: Iterable[tuple[str, dict | str]], **kw: Any) -> Reply:
    """An assistant message that calls several tools at once."""
    return Reply(tool_calls=[{"name": n, "arguments": a} for n, a in calls], **kw)


def error(status: int, message: str = "scripted error", retry_after: float | None = None, **kw: Any) -> Reply:
    """An HTTP error in OpenAI's error format (429 rate limit, 500 server error, ...)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Reply(status=status, error_message=message, headers=headers, **kw)


def malformed(body: str = '{"id": "chatcmpl-broken", "choices": [', status: int = 200, **kw: Any) -> Reply:
    """A body that is not valid JSON (or not a completion), sent as-is."""
    return Reply(raw_body=body, status=status, **kw)


@dataclass
class RecordedRequest:
    """A request as the server received it."""

    time: float
    path: str
    body: dict
    headers: dict[str, str]
    status: int | None = None  # the HTTP status the server answered with (None while in flight)

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", [])

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text_of(message.get("content"))
        return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _count_tokens(text_value: str) -> int:
    """A deterministic stand-in for a tokenizer: one token per whitespace-separated word."""
    return max(1, len(text_value.split()))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops SYNs under a burst; each drop costs a 1 s retransmit


class ScriptedLLMServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on 127.0.0.1."""

    def __init__(
        self,
        script: Iterable[Reply] | None = None,
        responder: Responder | None = None,
        default: Reply | None = None,
        port: int = 0,
    ) -> None:
        self._queue: deque[Reply] = deque(script or [])
        self.responder = responder
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0  # the most chat requests it was answering at once
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Answer every completion as server-sent events, asked for or not (as ``transformers serve`` does).
        self.stream_only = False
        self._httpd = _HTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What to pass to litellm as ``api_base``."""
        return f"{self.url}/v1"

    def start(self) -> "ScriptedLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ScriptedLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget the script, the responder and every recorded request."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.peak_in_flight = 0
        self.responder = None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        if self.default is not None:
            return self.default
        return error(500, "the scripted LLM server has no reply left in its script")

    # -- HTTP --------------------------------------------------------------------
    def _completion(self, body: dict, reply: Reply) -> dict:
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{n}_{i}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": call["arguments"]
                        if isinstance(call["arguments"], str)
                        else json.dumps(call["arguments"]),
                    },
                }
                for i, call in enumerate(reply.tool_calls)
            ]
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(_count_tokens(_text_of(m.get("content")) or " ") for m in body.get("messages", []))
        completion = reply.completion_tokens
        if completion is None:
            completion = _count_tokens(reply.content or json.dumps(message.get("tool_calls", "")))
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    def _events(self, body: dict, reply: Reply) -> str:
        """The completion as server-sent events: the role, the content, the tool calls, the finish, and
        the usage when the request's ``stream_options`` ask for it."""
        done = self._completion(body, reply)
        message, finish = done["choices"][0]["message"], done["choices"][0]["finish_reason"]
        head = {k: done[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        deltas: list[dict] = [{"role": "assistant"}]
        if message.get("content"):
            deltas.append({"content": message["content"]})
        for i, call in enumerate(message.get("tool_calls", [])):
            deltas.append({"tool_calls": [{"index": i, **call}]})
        chunks = [{**head, "choices": [{"index": 0, "delta": d}]} for d in deltas]
        chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**head, "choices": [], "usage": done["usage"]})
        return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes; Nagle + delayed ACK cost 40 ms each

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(
                self, status: int, payload: str, headers: dict[str, str] | None = None, kind: str = "application/json"
            ) -> None:
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}))
                else:
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

            def do_POST(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_unparsed": raw.decode(errors="replace")}
                recorded = RecordedRequest(arrived, self.path, body, dict(self.headers))
                with server._lock:
                    server.requests.append(recorded)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    recorded.status = 404
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                    return
                with server._lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._answer(server._next_reply(body), body, recorded)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, reply: Reply, body: dict, recorded: RecordedRequest) -> None:
                recorded.status = reply.status
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw_body is not None:
                    self._send(reply.status, reply.raw_body, reply.headers)
                elif reply.status >= 400:
                    err = {"error": {"message": reply.error_message, "type": "scripted_error", "code": reply.status}}
                    self._send(reply.status, json.dumps(err), reply.headers)
                elif body.get("stream") or server.stream_only:
                    self._send(200, server._events(body, reply), reply.headers, "text/event-stream")
                else:
                    self._send(200, json.dumps(server._completion(body, reply)), reply.headers)

        return Handler
