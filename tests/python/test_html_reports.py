"""`crossval-per-token --html` and `trace-diff --html` rendered by a real browser (Debian's headless
Chromium): a screenshot of each page goes to the build folder (BITNET_ARTIFACTS), and the DOM the
browser built holds the charts, the tolerance line and the first-divergence marker at the right
position / (layer, stage); the JSON embedded in the page equals the `--format json` output."""

import html.parser
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
ARTIFACTS = pathlib.Path(os.environ.get("BITNET_ARTIFACTS", "build/test-artifacts"))
MODEL = FIXTURES / "tiny-b158-i2s.gguf"
GOLDEN = FIXTURES / "golden" / "tiny-b158-i2s.p1_ascii.json"
TIGHT = "0.99999"
STAGES = ["embeddings", "attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "attn_sub_norm", "o_proj",
          "ffn_norm", "ffn_gate", "ffn_up", "ffn_act", "ffn_sub_norm", "ffn_out", "layer_out", "final_norm",
          "logits"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="headless Chromium not installed (scripts/install-deps.sh installs chromium)")


def bitnet(*args, env=None):
    full = {k: v for k, v in os.environ.items()
            if k not in ("BITNET_TRACE_DIR", "BITNET_TRACE_FILTER", "BITNET_TEST_PERTURB", "BITNET_TRACE_DATA")}
    full.update(env or {})
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=full, timeout=300)


def chromium(page, *flags):
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={page.parent / 'chromium-profile'}",
           *flags, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attributes) and the text of the embedded JSON."""

    def __init__(self):
        super().__init__()
        self.elements, self.report_json, self._in_json = [], None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        self._in_json = tag == "script" and a.get("id") == "report-data"

    def handle_endtag(self, tag):
        self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.report_json = (self.report_json or "") + data

    def find(self, tag=None, **attrs):
        return [a for t, a in self.elements
                if (tag is None or t == tag) and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def with_class(self, tag, cls):
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]


def render(page, name):
    """The browser's DOM of the page, and a screenshot of it in ARTIFACTS."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    r = chromium(page, f"--screenshot={shot}", "--window-size=1400,2200")
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dumped = chromium(page, "--dump-dom")
    assert dumped.returncode == 0 and "report-data" in dumped.stdout, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    return dom


def crossval_page(tmp_path, name, env=None):
    page = tmp_path / f"{name}.html"
    r = bitnet("crossval-per-token", "-t", 1, "--model", MODEL, "--b", f"golden:{GOLDEN}", "--cos-tol", TIGHT,
               "--format", "json", "--html", page, env=env)
    assert r.returncode in (0, 1), r.stderr
    assert not page.with_suffix(".html.tmp").exists()
    return page, json.loads(r.stdout)


def test_crossval_clean_report(tmp_path):
    page, report = crossval_page(tmp_path, "crossval-clean")
    assert report["status"] == "ok"
    dom = render(page, "crossval-clean")
    assert json.loads(dom.report_json) == report
    for chart in ("chart-cosine", "chart-kl", "chart-max-diff"):
        svg = dom.find("svg", id=chart)
        assert svg and svg[0]["data-points"] == str(len(report["positions"])), chart
        assert "data-first-divergence" not in svg[0]
    assert len(dom.with_class("line", "tolerance")) == 1  # on the cosine chart
    assert not dom.with_class("line", "first-divergence")
    assert dom.find("p", id="pre-gate")[0]["data-result"] == "pass"
    assert dom.find("p", id="first-divergence")[0]["data-position"] == "none"
    labels = dom.with_class("text", "xlabel")
    assert len(labels) == 3 * len(report["positions"])


def test_crossval_perturbed_report_marks_the_first_divergence(tmp_path):
    page, report = crossval_page(tmp_path, "crossval-perturbed", env={"BITNET_TEST_PERTURB": "layer:2"})
    first = report["first_divergent_position"]
    assert report["status"] == "divergent" and first == 1
    dom = render(page, "crossval-perturbed")
    assert json.loads(dom.report_json) == report
    for chart in ("chart-cosine", "chart-kl", "chart-max-diff"):
        assert dom.find("svg", id=chart)[0]["data-first-divergence"] == str(first)
    markers = dom.with_class("line", "first-divergence")
    assert [m["data-position"] for m in markers] == [str(first)] * 3
    assert dom.find("p", id="first-divergence")[0]["data-position"] == str(first)
    assert dom.find("table", id="top5"), "top-5 table of both sides at the first divergence"
    assert dom.find("table", id="sides") and dom.find("table", id="settings")


def test_crossval_token_mismatch_report(tmp_path):
    page = tmp_path / "mismatch.html"
    r = bitnet("crossval-per-token", "--model", MODEL, "--b", f"golden:{GOLDEN}", "--no-bos", "--format", "json",
               "--html", page)
    assert r.returncode == 2, r.stderr
    dom = render(page, "crossval-mismatch")
    assert dom.find("p", id="pre-gate")[0]["data-result"] == "fail"
    assert not dom.find("svg"), "no metrics, so no charts, after a failed pre-gate"
    assert json.loads(dom.report_json) == json.loads(r.stdout)


def test_trace_diff_report_marks_layer_and_stage(tmp_path):
    clean, perturbed = tmp_path / "clean", tmp_path / "perturbed"
    args = ("crossval-per-token", "-t", 1, "--model", MODEL, "--b", f"golden:{GOLDEN}", "--max-tokens", 1,
            "--cos-tol", TIGHT)
    assert bitnet(*args, "--trace", clean, env={"BITNET_TRACE_DATA": "1"}).returncode == 0
    assert bitnet(*args, "--trace", perturbed,
                  env={"BITNET_TRACE_DATA": "1", "BITNET_TEST_PERTURB": "layer:2"}).returncode == 1
    page = tmp_path / "trace-diff.html"
    r = bitnet("trace-diff", clean, perturbed, "--format", "json", "--html", page)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    first = report["first_divergence"]
    assert (first["layer"], first["stage"]) == (2, "q_proj")
    dom = render(page, "trace-diff")
    assert json.loads(dom.report_json) == report
    # The heat map's rows and columns in the page's documented order: input, layers, output; stages
    # in forward order.
    def row_label(cell):
        return str(cell["layer"]) if cell["layer"] >= 0 else ("input" if cell["stage"] == "embeddings" else "output")
    rows = list(dict.fromkeys(row_label(c) for c in report["cells"]))
    cols = [s for s in STAGES if s in {c["stage"] for c in report["cells"]}]
    svg = dom.find("svg", id="heatmap")[0]
    assert (svg["data-rows"], svg["data-cols"]) == (str(len(rows)), str(len(cols)))
    assert len(dom.with_class("rect", "cell")) == len(rows) * len(cols)
    marker = dom.with_class("rect", "marker-cell")
    assert len(marker) == 1
    assert (marker[0]["data-row"], marker[0]["data-col"]) == (str(rows.index("2")), str(cols.index("q_proj")))
    p = dom.find("p", id="first-divergence")[0]
    assert (p["data-layer"], p["data-stage"], p["data-seq"]) == ("2", "q_proj", str(first["seq"]))
    assert dom.find("table", id="stage-rms")
    # Cells before layer 2 are identical on both sides: relative RMS difference 0.
    for c in report["cells"]:
        if 0 <= c["layer"] < 2:
            assert c["max_rel_rms_diff"] == 0, c


def test_html_to_a_missing_directory_is_an_error(tmp_path):
    r = bitnet("crossval-per-token", "--model", MODEL, "--b", f"golden:{GOLDEN}", "--html",
               tmp_path / "no" / "such" / "dir" / "x.html")
    assert r.returncode == 3 and "cannot create" in r.stderr
