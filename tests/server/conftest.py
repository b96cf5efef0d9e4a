"""Starts `bitnet serve` for the HTTP tests: a free port on 127.0.0.1, /health polled until the
model is loaded, SIGTERM (then SIGKILL) at teardown. BITNET_BIN may be the sanitizer build
(ctest's server_tests_asan); BITNET_SANITIZED=1 then trims the heaviest cases."""

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

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
MODEL = FIXTURES / "tiny-bitnet-tq2_0.gguf"
SANITIZED = os.environ.get("BITNET_SANITIZED") == "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args, model=MODEL, ready=True):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bitnet-serve-", suffix=".log", delete=False)
        cmd = [BIN, "serve", "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
               "-t", "2", *map(str, args)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bitnet serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, _, _ = self.get("/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("bitnet serve did not become ready:\n" + self.output())

    def output(self):
        return pathlib.Path(self.log.name).read_text(errors="replace")

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers, timeout=10)

    def post(self, path, body=None, headers=None, raw=None):
        return self.request("POST", path, body=body, headers=headers, raw=raw)

    def json(self, method, path, body=None, headers=None):
        status, _, data = self.request(method, path, body=body, headers=headers)
        return status, json.loads(data)

    def slots(self, headers=None):
        status, _, data = self.get("/slots", headers=headers)
        assert status == 200, data
        return json.loads(data)

    def metric(self, name, headers=None):
        status, _, data = self.get("/metrics", headers=headers)
        assert status == 200, data
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server():
    s = Server("-np", 4, "-c", 4096, "--metrics")
    yield s
    assert s.stop() == 0, s.output()


def assert_error(status, body, expected_status, param=None):
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    assert status == expected_status, body
    err = json.loads(body)["error"] if isinstance(body, (bytes, str)) else body["error"]
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str), err
    assert "param" in err and "code" in err, err
    if param is not None:
        assert err["param"] == param, err
    return err
