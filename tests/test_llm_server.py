"""The scripted server itself, over plain HTTP."""

from __future__ import annotations

import httpx

from hyperfunc_core.testing import ScriptedLLMServer, error, malformed, text


def test_script_order_records_and_exhaustion():
    with ScriptedLLMServer([text("one"), error(429, "later", retry_after=2), malformed("{oops")]) as server:
        post = lambda: httpx.post(
            f"{server.api_base}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi there"}]},
        )
        first = post().json()
        assert first["choices"][0]["message"]["content"] == "one" and first["usage"]["prompt_tokens"] == 2
        limited = post()
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert post().text == "{oops"
        exhausted = post()
        assert exhausted.status_code == 500 and "no reply left" in exhausted.text
        assert len(server.requests) == 4 and server.requests[0].last_user_text == "hi there"
        assert httpx.get(f"{server.api_base}/models").status_code == 200


def test_responder_sees_the_request():
    with ScriptedLLMServer(responder=lambda body: text(f"t={body.get('temperature')}")) as server:
        r = httpx.post(f"{server.api_base}/chat/completions", json={"model": "m", "temperature": 0.7, "messages": []})
        assert r.json()["choices"][0]["message"]["content"] == "t=0.7"
