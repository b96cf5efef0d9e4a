"""bitnet serve under stress: a client that disconnects mid-stream frees its slot, --timeout ends a
stuck request, a full context ends a generation cleanly and the slot is reused, --max-queue
overflow answers 503 + Retry-After, SIGTERM drains (health 503, running requests finish, exit 0),
/health says loading before the model is in, and /slots and /metrics show what runs."""

import http.client
import json
import signal
import threading
import time

from conftest import Server, assert_error

CHAT = "/v1/chat/completions"


def long_chat(n=400, stream=False):
    return {"messages": [{"role": "user", "content": "Go on and on"}], "max_tokens": n, "temperature": 0,
            "ignore_eos": True, "stream": stream}


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def open_stream(server, body):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", CHAT, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    return conn, resp


def read_events(resp):
    """Every `data:` payload of an SSE response, up to [DONE]."""
    events = []
    for line in resp:
        line = line.strip()
        if line.startswith(b"data: "):
            payload = line[6:]
            if payload == b"[DONE]":
                break
            events.append(json.loads(payload))
    return events


def test_disconnect_mid_stream_frees_the_slot():
    s = Server("-np", 2, "--metrics")
    conn = None
    try:
        conn, resp = open_stream(s, long_chat(4000, stream=True))
        for _ in range(3):
            assert resp.readline().startswith(b"data: ") or True
        # The first lines can precede the scheduler's slot assignment on a loaded machine.
        assert wait_for(lambda: any(slot["is_processing"] for slot in s.slots()), 10), s.slots()
        conn.sock.shutdown(2)
        conn.close()
        conn = None
        assert wait_for(lambda: not any(slot["is_processing"] for slot in s.slots()), 5), s.slots()
        assert s.metric("bitnet:requests_processing") == 0
        status, data = s.json("POST", CHAT, long_chat(4))
        assert status == 200 and data["usage"]["completion_tokens"] == 4
    finally:
        if conn is not None:  # a failed check above: drop the stream so the drain does not wait
            conn.close()
        assert s.stop() == 0


def test_timeout_ends_a_long_request():
    s = Server("-np", 1, "-c", 100000, "--timeout", 1)
    try:
        t0 = time.time()
        status, data = s.json("POST", CHAT, long_chat(90000))
        elapsed = time.time() - t0
        assert elapsed < 10, elapsed
        assert status == 200, data
        assert data["choices"][0]["finish_reason"] == "length"
        assert 0 < data["usage"]["completion_tokens"] < 90000
    finally:
        s.stop()


def test_full_context_ends_with_length_and_the_slot_is_reused():
    s = Server("-np", 1, "-c", 48)
    try:
        status, data = s.json("POST", CHAT, long_chat(500))
        assert status == 200, data
        usage = data["usage"]
        assert data["choices"][0]["finish_reason"] == "length"
        assert usage["prompt_tokens"] + usage["completion_tokens"] <= 48 + 1, usage
        status, data = s.json("POST", CHAT, long_chat(3))
        assert status == 200 and data["usage"]["completion_tokens"] == 3
    finally:
        s.stop()


def test_queue_overflow_is_503_with_retry_after():
    s = Server("-np", 1, "--max-queue", 1)
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(s.json("POST", CHAT, long_chat(1500))))
                   for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.2)
        assert wait_for(lambda: any(slot["is_processing"] for slot in s.slots()))
        status, headers, body = s.post(CHAT, long_chat(3))
        assert_error(status, body, 503)
        assert json.loads(body)["error"]["code"] == "queue_full"
        assert headers.get("Retry-After") == "1"
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [200, 200]
    finally:
        s.stop()


def test_sigterm_drains_running_requests_and_exits_0():
    s = Server("-np", 2, "--shutdown-timeout", 30)
    try:
        conn, resp = open_stream(s, long_chat(120, stream=True))
        first = resp.readline()
        assert first.startswith(b"data: ")
        done = {}
        queued = threading.Thread(target=lambda: done.update(r=s.json("POST", CHAT, long_chat(60))))
        queued.start()
        assert wait_for(lambda: sum(slot["is_processing"] for slot in s.slots()) == 2)
        s.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: s.get("/health")[0] == 503, 5)
        status, body = s.json("GET", "/health")
        assert status == 503 and body["status"] == "draining"
        status, headers, body = s.post(CHAT, long_chat(3))
        assert_error(status, body, 503)
        assert "Retry-After" in headers
        events = read_events(resp)
        assert sum(1 for e in events if e["choices"] and e["choices"][0]["delta"].get("content") is not None) >= 100
        assert events[-1]["choices"][0]["finish_reason"] == "length"
        queued.join()
        assert done["r"][0] == 200 and done["r"][1]["usage"]["completion_tokens"] == 60
        assert s.proc.wait(timeout=20) == 0
        assert "stopped" in s.output()
    finally:
        s.stop()


def test_health_is_503_loading_until_the_model_is_in(tmp_path):
    # A FIFO as the "model" keeps the server in its loading phase until the test writes to it.
    import os
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    s = Server("-np", 1, model=fifo, ready=False)
    try:
        assert wait_for(lambda: _health(s) is not None, 10), s.output()
        status, body = _health(s)
        assert status == 503 and body == {"status": "loading"}
        status, _, body = s.post(CHAT, long_chat(3))
        assert_error(status, body, 503)
        try:
            with open(fifo, "wb") as f:  # unblocks the loader, which then refuses the file
                f.write(b"not a gguf file")
        except BrokenPipeError:
            pass  # it may refuse before reading
        assert s.proc.wait(timeout=20) == 1
        assert "error" in s.output()
    finally:
        s.stop()


def _health(s):
    try:
        status, _, body = s.get("/health")
        return status, json.loads(body)
    except OSError:
        return None


def test_slots_and_metrics_report_the_work(server):
    before = server.metric("bitnet:tokens_predicted_total")
    status, data = server.json("POST", CHAT, long_chat(5))
    assert status == 200
    assert server.metric("bitnet:tokens_predicted_total") - before == 5
    slots = server.slots()
    assert len(slots) == 4
    for slot in slots:
        assert {"id", "n_ctx", "is_processing", "n_past"} <= slot.keys() and slot["n_ctx"] == 1024
    _, _, text = server.get("/metrics")
    text = text.decode()
    for name in ("bitnet:requests_total", "bitnet:prompt_tokens_total", "bitnet:requests_processing",
                 "bitnet:requests_deferred", "bitnet:kv_cache_usage_ratio",
                 "bitnet:prompt_cache_hit_tokens_total", "bitnet:time_to_first_token_seconds_bucket",
                 "bitnet:inter_token_latency_seconds_count"):
        assert name in text, name
