"""bitnet.crossval.per_token returns the report of `bitnet crossval-per-token --format json`."""
import json
import subprocess
import sys

import pytest

import bitnet
from conftest import FIXTURES, I2S

GOLDEN = FIXTURES / "golden" / "tiny-b158-i2s.p1_ascii.json"


def without_timings(report):
    report = json.loads(json.dumps(report))
    report.pop("timing", None)
    for side in ("side_a", "side_b"):
        if isinstance(report.get(side), dict):
            report[side].pop("load_s", None)
    return report


def test_per_token_equals_cli_json(cli):
    proc = cli("crossval-per-token", "--model", I2S, "--b", f"golden:{GOLDEN}", "--format", "json",
               "-t", 1, check=False)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    expected = json.loads(proc.stdout)
    got = bitnet.crossval.per_token(I2S, GOLDEN, threads=1)
    assert without_timings(got) == without_timings(expected)
    assert set(got["timing"]) == set(expected["timing"])


def test_per_token_accepts_a_model_and_spec_strings(i2s_model):
    a = bitnet.crossval.per_token(i2s_model, f"golden:{GOLDEN}", max_tokens=2, threads=1)
    b = bitnet.crossval.per_token(str(I2S), str(GOLDEN), max_tokens=2, threads=1)
    assert without_timings(a) == without_timings(b)
    with pytest.raises(bitnet.ConfigError, match="side b"):
        bitnet.crossval.per_token(I2S, "something-else", "Hi")
