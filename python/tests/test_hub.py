"""Model.from_pretrained against a fake Hugging Face Hub: a fixture GGUF served from 127.0.0.1
with the Hub's resolve URL scheme and headers, then again offline from the cache."""
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import I2S

pytest.importorskip("huggingface_hub")

REPO_ID = "bitnet-test/tiny-b158"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub(http.server.BaseHTTPRequestHandler):
    """/{repo_id}/resolve/{revision}/{filename} for one file, HEAD and GET (with Range)."""
    data = I2S.read_bytes()
    etag = hashlib.sha256(data).hexdigest()
    requests = []

    def log_message(self, *args):
        pass

    def _resolve(self):
        prefix = f"/{REPO_ID}/resolve/"
        if not self.path.startswith(prefix):
            return None
        revision, _, filename = self.path[len(prefix):].partition("/")
        if revision not in ("main", COMMIT) or filename != I2S.name:
            return None
        return filename

    def _headers(self, length):
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{self.etag}"')
        self.send_header("X-Linked-Etag", f'"{self.etag}"')
        self.send_header("X-Linked-Size", str(len(self.data)))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")

    def do_HEAD(self):
        self.requests.append(("HEAD", self.path))
        if self._resolve() is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self._headers(len(self.data))
        self.end_headers()

    def do_GET(self):
        self.requests.append(("GET", self.path))
        if self._resolve() is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, start = self.data, 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0] or 0)
            body = self.data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.data) - 1}/{len(self.data)}")
        else:
            self.send_response(200)
        self._headers(len(body))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeHub.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SCRIPT = """
import sys, bitnet
m = bitnet.Model.from_pretrained(sys.argv[1], sys.argv[2], n_ctx=256, n_threads=1)
print(m.path)
print(m.generate("Hello", max_tokens=4, temperature=0))
"""


def run_script(env):
    # A fresh interpreter: huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE at import.
    return subprocess.run([sys.executable, "-c", SCRIPT, REPO_ID, I2S.name], env=env,
                          capture_output=True, text=True, timeout=300)


def test_from_pretrained_downloads_then_works_offline(hub, tmp_path, i2s_model):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub, HF_HUB_CACHE=str(tmp_path / "cache"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    online = run_script(env)
    assert online.returncode == 0, online.stderr
    path, text = online.stdout.split("\n", 1)
    assert Path(path).read_bytes() == I2S.read_bytes()
    assert COMMIT in path and str(tmp_path / "cache") in path
    assert text.rstrip("\n") == i2s_model.generate("Hello", max_tokens=4, temperature=0)
    assert any(method == "GET" for method, _ in FakeHub.requests)

    FakeHub.requests.clear()
    offline = run_script({**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout
    assert FakeHub.requests == []


def test_from_pretrained_without_huggingface_hub(monkeypatch):
    import builtins
    import bitnet
    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError("No module named 'huggingface_hub'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(ImportError, match="pip install huggingface_hub"):
        bitnet.Model.from_pretrained(REPO_ID, I2S.name)
