"""Scale-out: Debian's nginx, started here on loopback as a foreground process with its own config,
pid file, logs and temp paths in a tmp dir, load-balances two `bitnet serve` replicas that serve
the same model id (--alias). The config is the sample of docs/server.md ("Scale-out behind
nginx"): round robin, passive health checks (max_fails/fail_timeout), retries on connection errors
and on the 503 of a draining replica (proxy_next_upstream ... http_503 non_idempotent), no
buffering so that server-sent events stream through.

  (a) requests are spread over both replicas (counted on each replica's /metrics);
  (b) failover: one replica SIGKILLed, every request through nginx still succeeds;
  (c) drain: streams running and queued on a replica that gets SIGTERM all finish with their full
      token count, the replica exits 0, and new requests meanwhile go to the other replica."""

import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import re
import time

import pytest

import serve_util

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
ALIAS = "bitnet-replicated"


def _skip_reason():
    reason = serve_util.missing_binary_reason()
    if reason:
        return reason
    if not os.access(NGINX, os.X_OK):
        return f"nginx not found at {NGINX} (Debian package 'nginx'; scripts/install-deps.sh)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")

requests = pytest.importorskip("requests")

# The sample config of docs/server.md, with the test's ports and paths filled in.
NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 256;
}}

http {{
    log_format upstreams '$request_method $request_uri $status '
                         'upstream=$upstream_addr upstream_status=$upstream_status '
                         'test_id=$http_x_test_id';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream bitnet {{
        # Passive health checks: after max_fails failed attempts (connection errors, timeouts,
        # and the 503 of a draining replica, see proxy_next_upstream) a replica gets no
        # requests for fail_timeout seconds.
        server 127.0.0.1:{port_a} max_fails=1 fail_timeout=5s;
        server 127.0.0.1:{port_b} max_fails=1 fail_timeout=5s;
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;

        location / {{
            proxy_pass http://bitnet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # Retry elsewhere on a refused connection, a timeout, or a 503 (draining or queue
            # full); POSTs too, since a replica answers 503 before it has done any work.
            proxy_next_upstream error timeout http_503 non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            # Server-sent events: pass each token on as it comes.
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, tmp, port_a, port_b):
        self.dir = pathlib.Path(tmp)
        self.port = serve_util.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers may then read the tmp dir
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, dir=self.dir, port=self.port,
                                          port_a=port_a, port_b=port_b))
        cmd = [NGINX, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")]
        check = subprocess.run(cmd + ["-t", "-q"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "nginx did not come up:\n" + self.log()
            time.sleep(0.05)

    def log(self):
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access(self):
        path = self.dir / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster(tmp_path):
    """Two replicas (2 slots each, metrics on, the same model id) behind nginx."""
    started = []
    nginx = None
    try:
        for _ in range(2):
            started.append(serve_util.Replica("-np", 2, "-c", 1024, "--metrics", "--alias", ALIAS,
                                              "--shutdown-timeout", 30))
        a, b = started
        nginx = Nginx(tmp_path, a.port, b.port)
        yield nginx, a, b
    finally:
        if nginx is not None:
            nginx.stop()
        for r in started:
            r.stop()


def chat(url, content="Hello", max_tokens=8, **extra):
    body = {"model": ALIAS, "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens, "temperature": 0, **extra}
    return requests.post(url + "/v1/chat/completions", json=body, timeout=60)


def stream_chat(url, max_tokens, test_id=None):
    """One streamed chat completion through nginx: (status, finish_reason, completion_tokens,
    pieces, whether it ended with [DONE])."""
    body = {"model": ALIAS, "messages": [{"role": "user", "content": "Tell me a story."}],
            "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    headers = {"X-Test-Id": str(test_id)} if test_id is not None else {}
    with requests.post(url + "/v1/chat/completions", json=body, stream=True, timeout=60,
                       headers=headers) as r:
        if r.status_code != 200:
            return r.status_code, None, None, 0, False
        finish, usage, pieces, done = None, None, 0, False
        for line in r.iter_lines(decode_unicode=False):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            event = json.loads(data)
            assert "error" not in event, event
            if event.get("usage"):
                usage = event["usage"]["completion_tokens"]
            for choice in event.get("choices", []):
                if choice["delta"].get("content"):
                    pieces += 1
                finish = choice.get("finish_reason") or finish
        return r.status_code, finish, usage, pieces, done


def chat_requests(replica):
    return replica.metric("bitnet:requests_total", endpoint="chat")


def test_requests_are_spread_over_both_replicas(cluster):
    nginx, a, b = cluster
    models = requests.get(nginx.url + "/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [ALIAS]
    for i in range(10):
        r = chat(nginx.url, f"Question {i}")
        assert r.status_code == 200, r.text
        assert r.json()["model"] == ALIAS
    counts = chat_requests(a), chat_requests(b)
    assert sum(counts) == 10, counts
    assert min(counts) >= 3, f"round robin should use both replicas: {counts}"


def settled_count(replica, want=None, timeout=5.0):
    """chat_requests(replica) once it equals `want` (or, without one, stops changing for 0.2 s):
    a request is counted when its slot is released, which can trail the client's last byte."""
    deadline = time.time() + timeout
    last = chat_requests(replica)
    while time.time() < deadline:
        time.sleep(0.2)
        now = chat_requests(replica)
        if (want is not None and now == want) or (want is None and now == last):
            return now
        last = now
    return last


def test_failover_when_a_replica_dies(cluster):
    nginx, a, b = cluster
    assert chat(nginx.url).status_code == 200
    a.proc.kill()  # SIGKILL: no drain, connections refused from now on
    a.proc.wait(timeout=10)
    before = settled_count(b)
    for i in range(8):
        r = chat(nginx.url, f"After the crash {i}")
        assert r.status_code == 200, r.text
    status, finish, usage, _, done = stream_chat(nginx.url, max_tokens=12)
    assert (status, finish, usage, done) == (200, "length", 12, True)
    assert settled_count(b, want=before + 9) - before == 9
    # nginx saw the dead replica (a refused connection: 502 for that attempt) and retried on B.
    retried = [line for line in nginx.access() if f"127.0.0.1:{a.port}" in line and ", 200" in line]
    assert retried, "\n".join(nginx.access())


def test_sigterm_drains_without_losing_accepted_requests(cluster):
    nginx, a, b = cluster
    streams, max_tokens = 8, 120
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=streams + 2)
    try:
        futures = []
        for _ in range(streams):
            futures.append(pool.submit(stream_chat, nginx.url, max_tokens))
            time.sleep(0.02)  # in order, so that round robin alternates
        # Wait until replica A holds its share: 2 generating and the rest queued for a slot.
        deadline = time.monotonic() + 20
        while True:
            held = (a.metric("bitnet:requests_processing"), a.metric("bitnet:requests_deferred"))
            if sum(held) >= streams // 2:
                break
            assert time.monotonic() < deadline, f"replica A holds {held}"
            time.sleep(0.01)
        assert held[0] >= 1 and held[1] >= 1, f"want running and queued requests on A: {held}"

        a.proc.send_signal(signal.SIGTERM)
        # Draining: A says so on /health and turns new completions away with 503 + Retry-After.
        # (The signal is handled asynchronously: poll until A reports it.)
        deadline = time.monotonic() + 10
        while (health := requests.get(a.url + "/health", timeout=5)).status_code == 200:
            assert time.monotonic() < deadline, "replica A did not start draining"
            time.sleep(0.01)
        assert (health.status_code, health.json()) == (503, {"status": "draining"})
        direct = chat(a.url)
        assert direct.status_code == 503 and "Retry-After" in direct.headers, direct.text
        # Through nginx, new requests meanwhile succeed: a 503 from A is retried on B.
        for i in range(4):
            r = chat(nginx.url, f"During the drain {i}")
            assert r.status_code == 200, r.text

        results = [f.result(timeout=60) for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for status, finish, usage, pieces, done in results:
        assert (status, finish, usage, done) == (200, "length", max_tokens, True), results
        assert pieces > 0
    assert a.proc.wait(timeout=40) == 0, a.output()[-3000:]
    assert "draining" in a.output()

    # After A has gone, everything is served by B.
    for i in range(4):
        r = chat(nginx.url, f"After the drain {i}")
        assert r.status_code == 200, r.text
    # Some request went to A first and was retried on B: A's 503 while draining, or (when nginx
    # reused a keep-alive connection A had just closed) a connection error, logged as 502.
    assert any(re.search(r"upstream_status=50[23], 200", line) for line in nginx.access()), \
        "\n".join(nginx.access())


# A replica answers Connection: close while draining, so nginx's idle upstream keep-alive
# connections do not hold its exit.
def test_drained_replica_exits_promptly(cluster):
    nginx, a, b = cluster
    exited = {}

    def watch():
        a.proc.wait()
        exited["at"] = time.monotonic()

    def timed_stream(i):
        result = stream_chat(nginx.url, 120, test_id=i)
        return result, time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        streams = [pool.submit(timed_stream, i) for i in range(2)]  # one per replica
        deadline = time.monotonic() + 20
        while a.metric("bitnet:requests_processing") < 1:
            assert time.monotonic() < deadline, "no request reached replica A"
            time.sleep(0.01)
        a.proc.send_signal(signal.SIGTERM)
        watcher = pool.submit(watch)
        results = [f.result(timeout=60) for f in streams]
        watcher.result(timeout=40)
    assert all(r[0] == 200 and r[2] == 120 for r, _ in results), results
    assert a.proc.returncode == 0
    # The stream that replica A served, by the test id in nginx's access log.
    on_a = [line for line in nginx.access()
            if line.startswith("POST ") and f"upstream=127.0.0.1:{a.port} " in line]
    assert len(on_a) == 1, "\n".join(nginx.access())
    finished = results[int(on_a[0].rsplit("test_id=", 1)[1])][1]
    lingered = exited["at"] - finished
    assert lingered < 2.0, f"replica A exited {lingered:.1f} s after its last request had finished"
