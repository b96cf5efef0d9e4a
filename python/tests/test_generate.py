"""generate / chat against `bitnet run`: the same bytes greedy and with a seed; streaming
pieces join to the non-streaming text."""
import pytest

import bitnet
from conftest import I2S, TQ2, golden_cases, load_json

PROMPTS = ["Hello", "The quick brown fox", "def fib(n):"]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_cli(cli, i2s_model, prompt):
    out = cli("run", "-m", I2S, "-p", prompt, "-n", 24, "--temp", 0, "-t", 1).stdout
    text = i2s_model.generate(prompt, max_tokens=24, temperature=0)
    assert text.encode() == out
    assert "".join(i2s_model.generate(prompt, max_tokens=24, temperature=0, stream=True)) == text


@pytest.mark.parametrize("seed", [1, 42])
def test_seeded_sampling_equals_cli(cli, i2s_model, seed):
    args = dict(temperature=0.9, top_k=50, top_p=0.9, min_p=0.02, repeat_penalty=1.1)
    out = cli("run", "-m", I2S, "-p", "Once upon a time", "-n", 32, "--temp", 0.9, "--top-k", 50,
              "--top-p", 0.9, "--min-p", 0.02, "--repeat-penalty", 1.1, "--seed", seed,
              "-t", 1).stdout
    text = i2s_model.generate("Once upon a time", max_tokens=32, seed=seed, **args)
    assert text.encode() == out
    pieces = list(i2s_model.generate("Once upon a time", max_tokens=32, seed=seed, stream=True,
                                     **args))
    assert len(pieces) > 1 and "".join(pieces) == text


def test_golden_greedy_continuations(i2s_model):
    """The reference's recorded greedy continuations (golden/*.json)."""
    for _, case in golden_cases()[:6]:
        g = load_json(case)
        text = i2s_model.generate(g["prompt"], max_tokens=g["greedy"]["n_requested"],
                                  temperature=0)
        assert text == bytes.fromhex(g["greedy"]["text_hex"]).decode("utf-8", "replace")


def test_stop_sequence_and_tq2(cli):
    m = bitnet.Model(TQ2, n_threads=1)
    full = m.generate("Hello", max_tokens=24, temperature=0)
    out = cli("run", "-m", TQ2, "-p", "Hello", "-n", 24, "--temp", 0, "-t", 1).stdout
    assert full.encode() == out
    stop = full[len(full) // 2:][:3]
    if stop.strip():
        cut = m.generate("Hello", max_tokens=24, temperature=0, stop=[stop])
        assert cut == full[:full.index(stop)]


def test_chat_equals_cli(cli, i2s_model):
    out = cli("run", "-m", I2S, "--chat", "-p", "Hi there", "--system", "Be brief.", "-n", 16,
              "--temp", 0, "-t", 1).stdout
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    assert i2s_model.chat(messages, max_tokens=16, temperature=0).encode() == out
    assert "".join(i2s_model.chat(messages, max_tokens=16, temperature=0, stream=True)) == \
        out.decode("utf-8", "replace")


def test_tokenize_detokenize(i2s_model):
    ids = i2s_model.tokenize("Hello world")
    assert ids[0] == 128000 and i2s_model.tokenize(b"Hello world") == ids
    assert i2s_model.tokenize("Hello world", add_bos=False) == ids[1:]
    assert i2s_model.detokenize(ids[1:]) == "Hello world"
    assert i2s_model.tokenize("<|eot_id|>", add_bos=False, special=True) == [128009]
    assert len(i2s_model.tokenize("<|eot_id|>", add_bos=False)) > 1


def test_properties(i2s_model):
    assert i2s_model.n_vocab == 128256 and i2s_model.architecture == "bitnet-b1.58"
    assert i2s_model.n_ctx_train == 4096 and i2s_model.n_ctx == 4096
    md = i2s_model.metadata
    assert md["general.architecture"] == "bitnet-b1.58" and "tokenizer.ggml.tokens" not in md
    info = i2s_model.info
    assert info["quantization"] == "I2_S" and info["n_layer"] == 4 and info["n_embd"] == 128


def test_gpu_layers_run_on_the_cpu_and_say_so(capfd, monkeypatch):
    monkeypatch.delenv("BITNET_GPU_LAYERS", raising=False)
    model = bitnet.Model(I2S, n_ctx=64, n_threads=1, n_gpu_layers=-1)
    # Without the backend, without a device, or (today) without the CUDA layer loop: the CPU.
    err = capfd.readouterr().err
    assert "n_gpu_layers = -1, but " in err and "all 4 layers run on the CPU" in err
    info = model.info
    assert info["offload"] == "CPU only" and info["gpu_layers"] == 0 and info["gpu_device"] == ""
    assert model.tokenize("hi")
    # 0 leaves it to BITNET_GPU_LAYERS, as llama-cpp-python's default and the C API's 0 do.
    monkeypatch.setenv("BITNET_GPU_LAYERS", "2")
    bitnet.Model(I2S, n_ctx=64, n_threads=1)
    assert "n_gpu_layers = 2," in capfd.readouterr().err
    with pytest.raises(ValueError, match="n_gpu_layers"):
        bitnet.Model(I2S, n_gpu_layers=-2)
