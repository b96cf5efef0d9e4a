"""Helpers for the schemathesis, browser and nginx tests of `bitnet serve`: where the binary, the
fixtures and the artifacts are, a free loopback port, and a replica started on it (polled on
/health until the model is loaded; SIGTERM, then SIGKILL after 10 s, when stopped).

Kept apart from conftest.py on purpose: these tests import it by name."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("BITNET_BIN", "/work/main/build/bin/bitnet")
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", "/work/shared/fixtures"))
MODEL = FIXTURES / "tiny-bitnet-tq2_0.gguf"
ARTIFACTS = pathlib.Path(os.environ.get("BITNET_ARTIFACTS", str(REPO / "build" / "test-artifacts")))
if not ARTIFACTS.is_absolute():
    ARTIFACTS = REPO / ARTIFACTS
OPENAPI = REPO / "docs" / "openapi.yaml"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    """(status, headers, bytes) of one request; HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Replica:
    """One `bitnet serve` process on a free loopback port; output goes to a log file."""

    def __init__(self, *args, threads=1, model=MODEL, wait=True, api_key=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.log = tempfile.NamedTemporaryFile(prefix="bitnet-serve-", suffix=".log", delete=False)
        cmd = [BIN, "serve", "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
               "-t", str(threads), *map(str, args)]
        if api_key:
            cmd += ["--api-key", api_key]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bitnet serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, _, body = http("GET", self.url + "/health", timeout=5)
                if status == 200 and json.loads(body).get("status") == "ok":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("bitnet serve did not become ready:\n" + self.output())

    def output(self):
        return pathlib.Path(self.log.name).read_text(errors="replace")

    def get(self, path, timeout=10):
        return http("GET", self.url + path, headers=self.headers, timeout=timeout)

    def metric(self, name, **labels):
        """Sum of the samples of one metric in /metrics (needs --metrics), filtered by labels."""
        status, _, body = self.get("/metrics")
        assert status == 200, body
        total = 0.0
        want = [f'{k}="{v}"' for k, v in labels.items()]
        for line in body.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                if all(w in line for w in want):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, sig=signal.SIGTERM, grace=10):
        """Signal the process and wait for it (SIGKILL after `grace` s); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def missing_binary_reason():
    """Why the server tests cannot run here, or None."""
    if not os.access(BIN, os.X_OK):
        return f"bitnet binary not found at {BIN} (set BITNET_BIN)"
    if not MODEL.is_file():
        return f"model fixture not found at {MODEL} (set BITNET_FIXTURES)"
    return None
