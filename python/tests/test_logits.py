"""Model.eval and Session.eval_all return exactly `bitnet eval`'s logits on the golden prompts."""
import numpy as np
import pytest

import bitnet
from conftest import golden_cases, load_json

CASES = golden_cases()


def cli_logits(cli, model, tokens, tmp_path):
    out = tmp_path / "logits.bin"
    cli("eval", "-m", model, "--tokens", ",".join(map(str, tokens)), "--out", out, "-t", "1")
    return np.fromfile(out, dtype="<f4")


@pytest.mark.parametrize("model,case", CASES, ids=lambda p: p.stem)
def test_model_eval_equals_cli_bit_for_bit(cli, tmp_path, model, case):
    tokens = load_json(case)["tokens"]
    expected = cli_logits(cli, model, tokens, tmp_path)
    m = bitnet.Model(model, n_threads=1)
    logits = m.eval(tokens)
    assert logits.dtype == np.float32 and logits.shape == (len(tokens), m.n_vocab)
    assert logits.flags.c_contiguous and logits.flags.owndata is False  # owned by its capsule
    np.testing.assert_array_equal(logits.reshape(-1).view(np.uint32), expected.view(np.uint32))
    assert m.n_past == len(tokens)
    last = m.eval(tokens[:1], all_logits=False)  # appends after the cached positions
    assert last.shape == (1, m.n_vocab) and m.n_past == len(tokens) + 1
    m.reset()
    assert m.n_past == 0
    np.testing.assert_array_equal(m.eval(tokens, all_logits=False)[0], logits[-1])


@pytest.mark.parametrize("model,case", CASES[:1] + CASES[-1:], ids=lambda p: p.stem)
def test_session_eval_all_equals_cli(cli, tmp_path, model, case):
    tokens = load_json(case)["tokens"]
    expected = cli_logits(cli, model, tokens, tmp_path)
    with bitnet.Session(model, n_ctx=256, n_threads=1) as s:
        assert s.n_vocab == expected.size // len(tokens) and s.n_ctx == 256
        logits = s.eval_all(tokens)
        np.testing.assert_array_equal(logits.reshape(-1).view(np.uint32), expected.view(np.uint32))
        assert s.n_past == len(tokens)
        s.reset()
        np.testing.assert_array_equal(s.eval_last(tokens), logits[-1])  # one batch, last row
        s.reset()
        s.prefill(tokens[:-1])
        last = s.eval_last(tokens[-1:])  # a batch of one: the reference's other roundings
        assert last.shape == (s.n_vocab,) and s.n_past == len(tokens)


def test_session_tokenize_matches_model(i2s_model):
    from conftest import I2S
    with bitnet.Session(I2S, n_ctx=64, n_threads=1) as s:
        text = "Hello, world! <|eot_id|>"
        assert s.tokenize(text) == i2s_model.tokenize(text, special=True)
        assert s.tokenize(text, add_bos=False) == i2s_model.tokenize(text, add_bos=False,
                                                                     special=True)
