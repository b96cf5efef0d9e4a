"""Bad input to bitnet serve: each case answers the right status with OpenAI's error shape, never a
5xx, and the server keeps serving other requests. Authentication: only /health and / are public;
/metrics takes the key (or --metrics-public)."""

import json

import pytest

from conftest import Server, assert_error

CHAT = "/v1/chat/completions"


def chat_body(**kw):
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    body.update(kw)
    return body


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"messages": [}', b"", b"[1, 2]", b'"a string"',
                                 b'{"max_tokens": 1e99999}'])
def test_malformed_json_is_400(server, raw):
    status, _, body = server.post(CHAT, raw=raw)
    assert_error(status, body, 400)


@pytest.mark.parametrize("field,value", [
    ("temperature", "hot"), ("temperature", 5), ("top_p", 1.5), ("top_k", 2.5), ("max_tokens", "10"),
    ("max_tokens", -1), ("max_tokens", 10**12), ("max_completion_tokens", -3), ("stream", "yes"),
    ("stop", 7), ("stop", ["a", 1]), ("stop", ["a", "b", "c", "d", "e"]), ("seed", "x"), ("seed", 2**40),
    ("n", 2), ("logprobs", "true"), ("top_logprobs", 30), ("presence_penalty", 3),
    ("frequency_penalty", -2.5), ("min_p", -0.1), ("repeat_penalty", 0), ("response_format", {"type": "xml"}),
    ("response_format", "json"), ("stream_options", True), ("model", 5),
])
def test_wrong_field_types_and_ranges_are_400_naming_the_field(server, field, value):
    status, _, body = server.post(CHAT, chat_body(**{field: value}))
    err = assert_error(status, body, 400)
    assert err["param"] is not None and err["param"].split(".")[0] == field, err


@pytest.mark.parametrize("messages,param", [
    (None, "messages"), ([], "messages"), ("hello", "messages"), ([{"content": "x"}], "messages[0].role"),
    ([{"role": "wizard", "content": "x"}], "messages[0].role"), ([{"role": "user", "content": 5}], "messages[0].content"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages[0].content"),
    (["just a string"], "messages[0]"),
])
def test_bad_messages_are_400(server, messages, param):
    body = chat_body()
    if messages is None:
        del body["messages"]
    else:
        body["messages"] = messages
    status, _, data = server.post(CHAT, body)
    assert_error(status, data, 400, param)


def test_text_parts_and_unknown_fields_are_accepted(server):
    body = chat_body(messages=[{"role": "developer", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
                     some_future_field={"x": 1}, user="someone", temperature=None)
    status, data = server.json("POST", CHAT, body)
    assert status == 200, data
    assert data["choices"][0]["message"]["role"] == "assistant"


def test_two_mib_body_is_413(server):
    status, _, body = server.post(CHAT, raw=b'{"messages": [{"role": "user", "content": "' + b"a" * (2 << 20) + b'"}]}')
    assert_error(status, body, 413)


def test_prompt_over_the_context_is_400_with_both_counts(server):
    status, _, body = server.post(CHAT, chat_body(messages=[{"role": "user", "content": "word " * 1500}]))
    err = assert_error(status, body, 400)
    assert err["code"] == "context_length_exceeded", err
    counts = [int(w) for w in err["message"].replace(",", " ").split() if w.isdigit()]
    assert any(c > 1024 for c in counts) and 1024 in counts, err


def test_invalid_utf8_is_400(server):
    status, _, body = server.post(CHAT, raw=b'{"messages": [{"role": "user", "content": "\xff\xfe bad"}]}')
    assert_error(status, body, 400)


def test_unknown_model_is_404(server):
    status, _, body = server.post(CHAT, chat_body(model="gpt-4o"))
    err = assert_error(status, body, 404, "model")
    assert err["code"] == "model_not_found"


def test_completions_errors(server):
    status, _, body = server.post("/v1/completions", {"max_tokens": 2})
    assert_error(status, body, 400, "prompt")
    status, _, body = server.post("/v1/completions", {"prompt": ["a", "b"]})
    assert_error(status, body, 400, "prompt")
    status, _, body = server.post("/v1/completions", {"prompt": [1, 99999999]})
    assert_error(status, body, 400, "prompt")
    status, _, body = server.post("/v1/completions", {"prompt": ""})
    assert status in (200, 400), body  # BOS alone is a valid prompt for a model that adds one


def test_tokenize_errors(server):
    status, _, body = server.post("/tokenize", {"text": "x"})
    assert_error(status, body, 400, "content")
    status, _, body = server.post("/detokenize", {"tokens": [1, -5]})
    assert_error(status, body, 400, "tokens")
    status, _, body = server.post("/detokenize", {"tokens": "1,2"})
    assert_error(status, body, 400, "tokens")


def test_unknown_path_404_and_wrong_method_405(server):
    status, _, body = server.get("/v1/engines")
    assert_error(status, body, 404)
    status, headers, body = server.get(CHAT)
    assert_error(status, body, 405)
    assert headers.get("Allow") == "POST"
    status, _, body = server.request("DELETE", "/v1/models")
    assert_error(status, body, 405)


def test_the_server_still_serves_after_bad_input(server):
    status, data = server.json("POST", CHAT, chat_body())
    assert status == 200 and data["usage"]["completion_tokens"] >= 1
    status, _, metrics = server.get("/metrics")
    assert status == 200
    assert 'status="5' not in metrics.decode(), metrics.decode()


@pytest.fixture(scope="module")
def keyed():
    s = Server("-np", 1, "--metrics", "--api-key", "sekret", "--api-key", "second")
    yield s
    s.stop()


def test_api_keys(keyed):
    status, _, body = keyed.post(CHAT, chat_body())
    assert_error(status, body, 401)
    status, _, body = keyed.post(CHAT, chat_body(), headers={"Authorization": "Bearer wrong"})
    assert_error(status, body, 401)
    for key in ("sekret", "second"):
        status, _, body = keyed.post(CHAT, chat_body(), headers={"Authorization": f"Bearer {key}"})
        assert status == 200, body
    assert keyed.get("/health")[0] == 200
    assert keyed.get("/")[0] == 200
    assert_error(*keyed.get("/metrics")[::2], 401)
    assert_error(*keyed.get("/v1/models")[::2], 401)
    assert keyed.get("/metrics", headers={"Authorization": "Bearer sekret"})[0] == 200
    assert keyed.get("/metrics", headers={"X-Api-Key": "second"})[0] == 200


def test_metrics_public_needs_no_key(tmp_path):
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# one key per line\nk1\n")
    s = Server("-np", 1, "--metrics-public", "--api-key-file", key_file)
    try:
        assert s.get("/metrics")[0] == 200
        assert_error(*s.get("/slots")[::2], 401)
        assert s.get("/slots", headers={"Authorization": "Bearer k1"})[0] == 200
    finally:
        s.stop()


def test_metrics_off_is_404():
    s = Server("-np", 1, "--no-webui")
    try:
        assert_error(*s.get("/metrics")[::2], 404)
        assert_error(*s.get("/")[::2], 404)
    finally:
        s.stop()
