"""docs/openapi.yaml, the API description of `bitnet serve` (used by the schemathesis run): its
structure is checked as an OpenAPI 3.0.3 document, and its component schemas (translated to JSON
Schema) are checked with `jsonschema` against sample bodies in OpenAI's shapes, both ways: valid
samples pass, broken ones fail."""

import copy
import pathlib
import re

import jsonschema
import pytest
import yaml

DOC_PATH = pathlib.Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# The Schema Object keywords of OpenAPI 3.0 (a JSON Schema subset plus its own); 3.1-only forms
# such as `type: [string, "null"]`, `const` or `examples` are not among them.
SCHEMA_KEYWORDS = {
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
    "required", "enum", "type", "allOf", "oneOf", "anyOf", "not", "items", "properties",
    "additionalProperties", "description", "format", "default", "nullable", "discriminator",
    "readOnly", "writeOnly", "xml", "externalDocs", "example", "deprecated", "$ref",
}
SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean"}


@pytest.fixture(scope="module")
def doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def walk_schemas(schema, where):
    """Yields (where, schema) for a schema and every schema nested in it."""
    yield where, schema
    if not isinstance(schema, dict):
        return
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(schema.get(key, [])):
            yield from walk_schemas(sub, f"{where}/{key}/{i}")
    for key in ("items", "not"):
        if isinstance(schema.get(key), dict):
            yield from walk_schemas(schema[key], f"{where}/{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk_schemas(schema["additionalProperties"], f"{where}/additionalProperties")
    for name, sub in schema.get("properties", {}).items():
        yield from walk_schemas(sub, f"{where}/properties/{name}")


def all_schemas(doc):
    for name, schema in doc["components"]["schemas"].items():
        yield from walk_schemas(schema, f"#/components/schemas/{name}")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                yield from walk_schemas(content["schema"], f"{method} {path} request {media}")
            for status, response in op["responses"].items():
                for media, content in response.get("content", {}).items():
                    yield from walk_schemas(content["schema"], f"{method} {path} {status} {media}")
    for name, response in doc["components"].get("responses", {}).items():
        for media, content in response.get("content", {}).items():
            yield from walk_schemas(content["schema"], f"#/components/responses/{name} {media}")


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert method in METHODS, f"{path}: {method} is not an HTTP method"
            yield path, method, op


def test_openapi_top_level(doc):
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc) <= {"openapi", "info", "servers", "paths", "components", "security", "tags",
                        "externalDocs"}
    for server in doc.get("servers", []):
        assert re.match(r"https?://", server["url"])


def test_every_endpoint_of_the_server_is_documented(doc):
    want = {
        ("/v1/chat/completions", "post"), ("/v1/completions", "post"), ("/v1/models", "get"),
        ("/health", "get"), ("/tokenize", "post"), ("/detokenize", "post"), ("/metrics", "get"),
        ("/slots", "get"), ("/", "get"),
    }
    have = {(path, method) for path, method, _ in operations(doc)}
    assert have == want


def test_operations_are_well_formed(doc):
    ids = set()
    for path, method, op in operations(doc):
        assert path.startswith("/")
        assert op["operationId"] not in ids, f"duplicate operationId {op['operationId']}"
        ids.add(op["operationId"])
        assert op["responses"], f"{method} {path} has no responses"
        for status, response in op["responses"].items():
            assert re.fullmatch(r"[1-5][0-9][0-9]|default", str(status)), status
            assert isinstance(status, str), f"{method} {path}: quote status {status} (YAML int)"
            if "$ref" in response:
                response = resolve(doc, response["$ref"])
            assert response["description"]
            for media, content in response.get("content", {}).items():
                assert "/" in media and "schema" in content
        if "requestBody" in op:
            assert method in {"post", "put", "patch"}
            assert "application/json" in op["requestBody"]["content"]
        # Bad input is never a 5xx: no server error is documented as an answer.
        assert not any(str(s).startswith("5") and s != "503" for s in op["responses"]), (method, path)


def test_security_bearer_everywhere_but_health_and_page(doc):
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearerAuth": []}]
    for path, method, op in operations(doc):
        public = path in ("/health", "/")
        assert (op.get("security") == []) == public, f"{method} {path}"
        if not public:
            assert "401" in op["responses"], f"{method} {path} documents no 401"


def test_schemas_use_openapi_30_keywords_and_refs_resolve(doc):
    for where, schema in all_schemas(doc):
        assert isinstance(schema, dict), where
        unknown = set(schema) - SCHEMA_KEYWORDS
        assert not unknown, f"{where}: not OpenAPI 3.0 schema keywords: {unknown}"
        if "$ref" in schema:
            assert set(schema) == {"$ref"}, f"{where}: siblings of $ref are ignored in 3.0"
            resolve(doc, schema["$ref"])
        if "type" in schema:
            assert schema["type"] in SCHEMA_TYPES, f"{where}: type {schema['type']!r}"
        for key in ("required",):
            if key in schema:
                assert schema[key] and set(schema[key]) <= set(schema.get("properties", {})), where
        if schema.get("type") == "array":
            assert "items" in schema, f"{where}: an array needs items in 3.0"
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            if key in schema:
                assert isinstance(schema[key], bool), f"{where}: {key} is a boolean in 3.0"
    for ref_holder in ("responses",):
        for name, response in doc["components"][ref_holder].items():
            for header in response.get("headers", {}).values():
                assert "schema" in header, name


# ---- the component schemas as JSON Schema

def to_json_schema(node):
    """OpenAPI 3.0 Schema Object to JSON Schema 2020-12: `nullable: true` becomes a union with null;
    OpenAPI-only annotations are dropped."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("nullable", "example", "discriminator", "xml", "externalDocs", "readOnly",
                   "writeOnly", "deprecated"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = to_json_schema(value)
    if node.get("nullable"):
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def validator_for(doc):
    components = {"schemas": to_json_schema(doc["components"]["schemas"])}

    def make(name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(schema)

    return make


ERRORS = [
    {"error": {"message": "'messages' must be a non-empty array", "type": "invalid_request_error",
               "param": "messages", "code": None}},
    {"error": {"message": "Invalid API key", "type": "authentication_error", "param": None,
               "code": "invalid_api_key"}},
    {"error": {"message": "the prompt has 5000 tokens but the context holds 2048",
               "type": "invalid_request_error", "param": "messages", "code": 400}},
    {"error": {"message": "model 'gpt-4' not found", "type": "not_found_error"}},
]

CHAT_COMPLETION = {
    "id": "chatcmpl-42",
    "object": "chat.completion",
    "created": 1764633600,
    "model": "bitnet-b1.58-2b",
    "system_fingerprint": "bitnet-0.1.0",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "Hello!"},
        "finish_reason": "stop",
        "logprobs": {"content": [{
            "token": "Hello", "logprob": -0.01, "bytes": [72, 101, 108, 108, 111],
            "top_logprobs": [{"token": "Hello", "logprob": -0.01, "bytes": [72, 101, 108, 108, 111]},
                             {"token": "Hi", "logprob": -4.6, "bytes": None}],
        }]},
    }],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 8}},
}


@pytest.mark.parametrize("body", ERRORS)
def test_error_bodies_match(validator_for, body):
    validator_for("Error").validate(body)


@pytest.mark.parametrize("body", [
    {},
    {"error": "boom"},
    {"error": {"message": "x"}},
    {"error": {"message": 3, "type": "invalid_request_error"}},
    {"error": {"message": "x", "type": "t", "code": 1.5}},
    {"error": {"message": "x", "type": "t", "param": 7}},
])
def test_broken_error_bodies_fail(validator_for, body):
    with pytest.raises(jsonschema.ValidationError):
        validator_for("Error").validate(body)


def test_chat_completion_matches(validator_for):
    v = validator_for("ChatCompletion")
    v.validate(CHAT_COMPLETION)
    minimal = copy.deepcopy(CHAT_COMPLETION)
    del minimal["choices"][0]["logprobs"], minimal["system_fingerprint"]
    minimal["choices"][0]["finish_reason"] = "length"
    v.validate(minimal)
    minimal["choices"][0]["logprobs"] = None
    v.validate(minimal)


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(object="chat.completion.chunk"),
    lambda c: c["choices"][0].update(finish_reason="tool_calls"),
    lambda c: c["choices"][0].pop("message"),
    lambda c: c["usage"].update(prompt_tokens="12"),
    lambda c: c["choices"][0]["logprobs"]["content"][0].pop("top_logprobs"),
    lambda c: c.pop("created"),
])
def test_broken_chat_completions_fail(validator_for, mutate):
    body = copy.deepcopy(CHAT_COMPLETION)
    mutate(body)
    with pytest.raises(jsonschema.ValidationError):
        validator_for("ChatCompletion").validate(body)


def test_stream_chunks_match(validator_for):
    v = validator_for("ChatCompletionChunk")
    base = {"id": "chatcmpl-42", "object": "chat.completion.chunk", "created": 1764633600,
            "model": "m"}
    v.validate({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "finish_reason": None}]})
    v.validate({**base, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})
    v.validate({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    v.validate({**base, "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})


def test_requests_match(validator_for):
    chat = validator_for("ChatCompletionRequest")
    chat.validate({"messages": [{"role": "user", "content": "hi"}]})
    chat.validate({
        "model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": "hello"}, {"role": "developer", "content": "x"}],
        "max_tokens": None, "max_completion_tokens": 16, "temperature": 0, "top_p": 0.9,
        "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1, "presence_penalty": -2,
        "frequency_penalty": 2, "seed": 7, "stop": ["\n", "###"], "stream": True,
        "stream_options": {"include_usage": True}, "logprobs": True, "top_logprobs": 20, "n": 1,
        "response_format": {"type": "json_object"}, "ignore_eos": True, "cache_prompt": False,
        "some_unknown_field": {"ignored": True},
    })
    for bad in [
        {},
        {"messages": []},
        {"messages": [{"role": "robot", "content": "hi"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": "hi"}], "temperature": 3},
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1},
        {"messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]},
        {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 21},
        {"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "xml"}},
    ]:
        with pytest.raises(jsonschema.ValidationError):
            chat.validate(bad)

    completion = validator_for("CompletionRequest")
    completion.validate({"prompt": "Once upon a time", "max_tokens": 8, "stop": "\n"})
    completion.validate({"prompt": [1, 15043, 3186], "logprobs": 2})
    for bad in [{}, {"prompt": ["a", "b"]}, {"prompt": [-1]}, {"prompt": "x", "top_p": 1.5}]:
        with pytest.raises(jsonschema.ValidationError):
            completion.validate(bad)


def test_other_responses_match(validator_for):
    validator_for("TextCompletion").validate({
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "text": " there", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}})
    validator_for("ModelList").validate({"object": "list", "data": [
        {"id": "ggml-model-i2_s.gguf", "object": "model", "created": 1764633600,
         "owned_by": "bitnet"}]})
    health = validator_for("Health")
    for status in ("ok", "loading", "draining"):
        health.validate({"status": status})
    with pytest.raises(jsonschema.ValidationError):
        health.validate({"status": "busy"})
    tokenize = validator_for("TokenizeResponse")
    tokenize.validate({"tokens": [128000, 9906]})
    tokenize.validate({"tokens": []})
    tokenize.validate({"tokens": [{"id": 9906, "piece": "Hello"}, {"id": 3, "piece": [226, 130]}]})
    with pytest.raises(jsonschema.ValidationError):
        tokenize.validate({"tokens": ["Hello"]})
    validator_for("DetokenizeResponse").validate({"content": "Hello"})
    slot = validator_for("Slot")
    slot.validate({"id": 0, "n_ctx": 1024, "is_processing": False, "n_past": 0, "id_task": -1,
                   "extra": "fields are allowed"})
    with pytest.raises(jsonschema.ValidationError):
        slot.validate({"id": 0, "n_ctx": 1024})
