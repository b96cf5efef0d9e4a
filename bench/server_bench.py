#!/usr/bin/env python3
"""N concurrent streaming clients against `bitnet serve` and, when given, llama-server, on the same
GGUF: each client sends a PROMPT-token prompt (token ids, distinct per client so no prefix is
shared) and streams GEN tokens (ignore_eos, greedy). Servers alternate for each concurrency level.

Reports per server and concurrency: aggregate generated tokens/s end to end (all tokens / wall time
from the first request to the last token), time to first token p50/p99, inter-token latency
p50/p99, decode throughput N / ITL p50, and the servers' RSS. With --long-prompt L it also measures
the p99 inter-token latency of one streaming user while another client sends an L-token prompt
(chunked prefill), against the same user alone.

  bench/server_bench.py --model M.gguf --bitnet build/bin/bitnet [--llama-server PATH] \
      --clients 1,2,4,8,16 --threads 2 [--long-prompt 2000] [--json out.json]
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Server:
    def __init__(self, kind, args, n_parallel, n_ctx):
        self.kind = kind
        self.port = free_port()
        if kind == "bitnet":
            cmd = [args.bitnet, "serve", "-m", args.model, "--port", str(self.port), "-np", str(n_parallel),
                   "-c", str(n_ctx), "-t", str(args.threads), "--max-queue", "0"]
        else:
            cmd = [args.llama_server, "-m", args.model, "--port", str(self.port), "-np", str(n_parallel),
                   "-c", str(n_ctx), "-t", str(args.threads), "-cb", "--no-warmup"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {self.proc.returncode}: {' '.join(cmd)}")
            time.sleep(0.2)
        raise RuntimeError(f"{kind} server did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stream_request(port, prompt, n_gen, out, start_barrier=None):
    """One streaming completion; records request time, token arrival times."""
    body = json.dumps({"prompt": prompt, "max_tokens": n_gen, "temperature": 0, "ignore_eos": True,
                       "stream": True, "cache_prompt": False})
    if start_barrier:
        start_barrier.wait()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    times = []
    for line in resp:
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            break
        event = json.loads(payload)
        if event.get("choices") and event["choices"][0].get("text"):
            times.append(time.perf_counter())
    conn.close()
    out.append({"start": t0, "times": times})


def run_clients(port, n, args, vocab):
    rng = random.Random(n)
    prompts = [[1] + [rng.randrange(100, vocab) for _ in range(args.prompt - 1)] for _ in range(n)]
    results, barrier = [], threading.Barrier(n)
    threads = [threading.Thread(target=stream_request, args=(port, p, args.gen, results, barrier)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start = min(r["start"] for r in results)
    end = max(r["times"][-1] for r in results if r["times"])
    tokens = sum(len(r["times"]) for r in results)
    ttft = [r["times"][0] - r["start"] for r in results if r["times"]]
    itl = [b - a for r in results for a, b in zip(r["times"], r["times"][1:])]
    itl_p50 = percentile(itl, 50)
    return {"clients": n, "tokens": tokens, "aggregate_tok_s": tokens / (end - start),
            "ttft_p50_s": percentile(ttft, 50), "ttft_p99_s": percentile(ttft, 99),
            "itl_p50_ms": 1000 * itl_p50, "itl_p99_ms": 1000 * percentile(itl, 99),
            "decode_tok_s": n / itl_p50 if itl_p50 > 0 else float("nan")}


def long_prompt_effect(port, args, vocab):
    """p99 ITL of a streaming user alone, then while another client sends a long prompt."""
    rng = random.Random(7)
    user = [1] + [rng.randrange(100, vocab) for _ in range(args.prompt - 1)]
    big = [1] + [rng.randrange(100, vocab) for _ in range(args.long_prompt - 1)]
    alone = []
    stream_request(port, user, 96, alone)
    itl_alone = [b - a for a, b in zip(alone[0]["times"], alone[0]["times"][1:])]
    together, other = [], []
    t = threading.Thread(target=stream_request, args=(port, user, 96, together))
    t.start()
    time.sleep(max(0.5, 4 * percentile(itl_alone, 50)))
    o = threading.Thread(target=stream_request, args=(port, big, 4, other))
    o.start()
    t.join()
    o.join()
    itl = [b - a for a, b in zip(together[0]["times"], together[0]["times"][1:])]
    return {"long_prompt": args.long_prompt, "itl_p99_alone_ms": 1000 * percentile(itl_alone, 99),
            "itl_p99_with_long_prompt_ms": 1000 * percentile(itl, 99),
            "ratio": percentile(itl, 99) / percentile(itl_alone, 99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--bitnet", default="build/bin/bitnet")
    ap.add_argument("--llama-server", default="")
    ap.add_argument("--clients", default="1,2,4,8,16")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx-per-slot", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=32000, help="token ids are drawn below this")
    ap.add_argument("--long-prompt", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    kinds = ["bitnet"] + (["llama-server"] if args.llama_server else [])
    rows = []
    for n in [int(x) for x in args.clients.split(",")]:
        order = kinds if n % 2 else list(reversed(kinds))  # alternate which server goes first
        for kind in order:
            s = Server(kind, args, n, n * args.ctx_per_slot)
            try:
                row = run_clients(s.port, n, args, args.vocab)
                row.update(server=kind, rss_mb=rss_mb(s.proc.pid))
            finally:
                s.stop()
            rows.append(row)
            print(f"{kind:13s} clients {n:2d}: {row['aggregate_tok_s']:7.1f} tok/s end to end, "
                  f"decode {row['decode_tok_s']:6.1f} tok/s, TTFT p50 {row['ttft_p50_s']:6.2f} s "
                  f"p99 {row['ttft_p99_s']:6.2f} s, ITL p50 {row['itl_p50_ms']:6.1f} ms "
                  f"p99 {row['itl_p99_ms']:6.1f} ms, RSS {row['rss_mb']:.0f} MB", flush=True)
    extra = {}
    if args.long_prompt:
        for kind in kinds:
            s = Server(kind, args, 2, 2 * max(args.ctx_per_slot, args.long_prompt + 256))
            try:
                extra[kind] = long_prompt_effect(s.port, args, args.vocab)
            finally:
                s.stop()
            e = extra[kind]
            print(f"{kind:13s} ITL p99 alone {e['itl_p99_alone_ms']:.1f} ms, while a {args.long_prompt}-token "
                  f"prompt is prefilled {e['itl_p99_with_long_prompt_ms']:.1f} ms ({e['ratio']:.2f}x)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "long_prompt": extra, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
