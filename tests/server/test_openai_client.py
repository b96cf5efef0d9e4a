"""bitnet serve through the official `openai` client: chat and completions, streaming equals
non-streaming for greedy decoding, stop sequences, seeded sampling, logprobs, json_object, prefix
reuse, 16 concurrent clients, and batch invariance (greedy answers under 8-way concurrency are
byte-identical to the same requests sent alone)."""

import concurrent.futures
import json

import openai
import pytest

from conftest import SANITIZED


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model_id(client):
    models = client.models.list().data
    assert len(models) == 1 and models[0].object == "model"
    return models[0].id


def greedy_chat(client, model_id, content, **kw):
    return client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": content}], temperature=0,
        max_tokens=kw.pop("max_tokens", 24), **kw)


def test_chat_completion_shape(client, model_id):
    r = greedy_chat(client, model_id, "Hello there")
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == model_id
    choice = r.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert 0 < r.usage.completion_tokens <= 24


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_streaming_reassembles_to_the_non_streaming_answer(client, model_id, kind):
    if kind == "chat":
        args = dict(model=model_id, messages=[{"role": "user", "content": "Tell me a story"}],
                    temperature=0, max_tokens=32, extra_body={"ignore_eos": True})
        whole = client.chat.completions.create(**args)
        chunks = list(client.chat.completions.create(**args, stream=True,
                                                     stream_options={"include_usage": True}))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole.choices[0].message.content
        finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finals == [whole.choices[0].finish_reason]
    else:
        args = dict(model=model_id, prompt="Once upon a time", temperature=0, max_tokens=32,
                    extra_body={"ignore_eos": True})
        whole = client.completions.create(**args)
        chunks = list(client.completions.create(**args, stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        assert text == whole.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == 32


def test_stop_sequence_cuts_the_text_before_it(client, model_id):
    full = client.completions.create(model=model_id, prompt="The weather today", temperature=0,
                                     max_tokens=40, extra_body={"ignore_eos": True}).choices[0].text
    assert len(full) > 12
    stop = full[8:12]
    cut = client.completions.create(model=model_id, prompt="The weather today", temperature=0, max_tokens=40,
                                    stop=[stop, "\x00never"], extra_body={"ignore_eos": True}).choices[0]
    assert cut.finish_reason == "stop"
    assert cut.text == full[:full.index(stop)]


def test_seeded_sampling_is_reproducible(client, model_id):
    def sample(seed):
        return client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "Pick a word"}], temperature=1.0,
            top_p=1.0, seed=seed, max_tokens=24, extra_body={"ignore_eos": True}).choices[0].message.content
    a, b, c = sample(7), sample(7), sample(8)
    assert a == b
    assert a != c


def test_logprobs_and_top_logprobs(client, model_id):
    r = greedy_chat(client, model_id, "Count", max_tokens=8, logprobs=True, top_logprobs=3,
                    extra_body={"ignore_eos": True})
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 8
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert entry.logprob == pytest.approx(tops[0])  # greedy picks the most likely token
        assert entry.token == entry.top_logprobs[0].token
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token or entry.bytes


def test_json_object_output_parses(client, model_id):
    r = client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "Reply in JSON"}], temperature=0,
        max_tokens=200, response_format={"type": "json_object"})
    text = r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop", text
    assert isinstance(json.loads(text), dict), text


def test_completion_from_token_ids_and_tokenize_round_trip(server, client, model_id):
    status, body = server.json("POST", "/tokenize", {"content": "Hello world", "add_special": True})
    assert status == 200
    ids = body["tokens"]
    status, detok = server.json("POST", "/detokenize", {"tokens": ids[1:]})
    assert status == 200 and detok["content"].strip() == "Hello world"
    by_ids = client.completions.create(model=model_id, prompt=ids, temperature=0, max_tokens=8)
    by_text = client.completions.create(model=model_id, prompt="Hello world", temperature=0, max_tokens=8)
    assert by_ids.choices[0].text == by_text.choices[0].text


def test_multi_turn_reuses_the_cached_prefix(server, client, model_id):
    before = server.metric("bitnet:prompt_cache_hit_tokens_total")
    history = [{"role": "system", "content": "You are a helpful assistant who answers briefly."},
               {"role": "user", "content": "What is a ternary weight?"}]
    first = client.chat.completions.create(model=model_id, messages=history, temperature=0, max_tokens=16)
    history += [{"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "And why is it fast?"}]
    second = client.chat.completions.create(model=model_id, messages=history, temperature=0, max_tokens=16)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens - 1, (cached, first.usage)
    assert server.metric("bitnet:prompt_cache_hit_tokens_total") - before >= cached


def test_sixteen_concurrent_clients_all_complete(client, model_id):
    n = 6 if SANITIZED else 16

    def one(i):
        return client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": f"Client {i} says hi"}], temperature=0.8,
            seed=i, max_tokens=12, extra_body={"ignore_eos": True}, stream=i % 2 == 0,
            **({"stream_options": {"include_usage": True}} if i % 2 == 0 else {}))

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    for i, r in enumerate(results):
        if i % 2 == 0:
            chunks = list(r)
            assert chunks[-1].usage.completion_tokens == 12
        else:
            assert r.usage.completion_tokens == 12 and r.choices[0].finish_reason == "length"


def test_greedy_answers_do_not_depend_on_the_batch(client, model_id):
    prompts = [f"Prompt number {i}: describe {w}" for i, w in
               enumerate(["rain", "a cat", "bits", "the sea", "tea", "stars", "a bridge", "salt"])]

    def ask(p):
        return client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": p}], temperature=0, max_tokens=20,
            extra_body={"ignore_eos": True, "cache_prompt": False}).choices[0].message.content

    alone = [ask(p) for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, prompts))
    assert together == alone
