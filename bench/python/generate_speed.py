"""Benchmark (not a test): what the Python layer costs in decoding.

python bench/python/generate_speed.py MODEL.gguf [-n 64] [-t 2] [-r 3]

For each repetition one greedy generation of n tokens (ignore_eos) runs through
Model.generate(stream=True); it reports the wall-clock tokens/s seen from Python, the engine's own
decode rate for the same run (decode_steps / decode_ms, as `bitnet bench` tg measures it) and the
share of the wall time spent outside the engine (Python iteration, GIL hand-offs, decoding the
pieces). Compare with `bitnet bench -m MODEL -p 0 -n N -t T`.
"""
import argparse
import statistics
import time

import bitnet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-r", type=int, default=3)
    args = ap.parse_args()
    m = bitnet.Model(args.model, n_ctx=args.n + 16, n_threads=args.t)
    config = m._config(args.n, 0.0, 40, 0.95, 0.05, 1.0, 64, None, None, ignore_eos=True)
    rows = []
    for rep in range(args.r + 1):  # the first one warms up
        m.reset()
        t0 = time.perf_counter()
        stream = m._engine.stream(b"Hello", config)  # evaluates the prompt
        for _ in stream:
            pass
        wall_ms = (time.perf_counter() - t0) * 1000.0
        r = stream.result()["metrics"]
        # total_ms is the engine's own time from the call to the end of the last step: whatever
        # the wall clock saw beyond it was spent in Python, nanobind and GIL hand-offs.
        outside_ms = max(0.0, wall_ms - r["total_ms"])
        if rep:
            rows.append((r["decode_steps"] / (r["decode_ms"] + outside_ms) * 1000.0,
                         r["generation_tokens_per_s"], outside_ms / r["decode_ms"]))
    print(f"model {args.model}, {args.n} tokens, {args.t} threads, {args.r} repetitions")
    print("python generate tg (decode steps / (engine decode time + time outside the engine)): "
          f"{statistics.mean(x[0] for x in rows):.2f} tok/s")
    print(f"engine decode rate of the same runs: {statistics.mean(x[1] for x in rows):.2f} tok/s")
    print(f"time outside the engine / decode time: {100 * statistics.mean(x[2] for x in rows):.3f} %"
          f" (max {100 * max(x[2] for x in rows):.3f} %)")


if __name__ == "__main__":
    main()
