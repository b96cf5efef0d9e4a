"""Independent float -> Q8_0 / Q6_K quantizers for tests/unit/quantize_test.cpp.

    python quant_oracle.py q8_0|q6_k IN.f32 OUT.bin

IN.f32 holds little-endian float32 values (a whole number of blocks); OUT.bin receives the ggml
blocks. Q8_0 comes from the `gguf` package (gguf.quants.quantize, written to match ggml's
quantize_row_q8_0_ref bit for bit). gguf 0.19 has no Q6_K quantizer, so Q6_K is a numpy
transcription of ggml's quantize_row_q6_K_ref / make_qx_quants (ggml-quants.c), vectorized over
sub-blocks but with every float32 operation in the reference's order (no fused multiply-adds).
"""
import sys

import numpy as np

F32 = np.float32


def nearest_int(x):
    """ggml's nearest_int: round half to even (|x| < 2^22)."""
    return np.rint(x.astype(F32)).astype(np.int32)


def make_qx_quants(x, nmax=32):
    """ggml make_qx_quants(n=16, nmax, x, L, rmse_type=1, qw=NULL) for each row of x [n_sub, 16]:
    returns (scale [n_sub] float32, L [n_sub, 16] int32 in 0..2*nmax-1)."""
    n_sub, n = x.shape
    ax = np.abs(x)
    imax = np.argmax(ax, axis=1)  # first index of the largest magnitude, as `ax > amax`
    amax = ax[np.arange(n_sub), imax]
    vmax = x[np.arange(n_sub), imax]
    zero = amax < F32(1e-15)
    safe_max = np.where(zero, F32(1), vmax).astype(F32)

    def levels(iscale):
        l = nearest_int(iscale[:, None] * x)
        return np.clip(l, -nmax, nmax - 1)

    def sums(l):
        sumlx = np.zeros(n_sub, F32)
        suml2 = np.zeros(n_sub, F32)
        lf = l.astype(F32)
        for i in range(n):  # element order, float32 each step
            w = x[:, i] * x[:, i]
            sumlx = (sumlx + (w * x[:, i]) * lf[:, i]).astype(F32)
            suml2 = (suml2 + (w * lf[:, i]) * lf[:, i]).astype(F32)
        return sumlx, suml2

    iscale = (F32(-nmax) / safe_max).astype(F32)
    L = levels(iscale)
    sumlx, suml2 = sums(L)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0)).astype(F32)
    best = (scale * sumlx).astype(F32)
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = (-(F32(nmax) + F32(0.1) * F32(step)) / safe_max).astype(F32)
        l = levels(iscale)
        slx, sl2 = sums(l)
        better = (sl2 > 0) & ((slx * slx).astype(F32) > (best * sl2).astype(F32))
        with np.errstate(divide="ignore", invalid="ignore"):
            new_scale = (slx / sl2).astype(F32)
        L = np.where(better[:, None], l, L)
        scale = np.where(better, new_scale, scale).astype(F32)
        best = np.where(better, (scale * slx).astype(F32), best).astype(F32)
    L = L + nmax
    L[zero] = 0
    scale[zero] = 0
    return scale, L


def quantize_q6_k(values):
    blocks = values.reshape(-1, 256).astype(F32)
    out = np.zeros((blocks.shape[0], 210), np.uint8)
    for b, x in enumerate(blocks):
        sub = x.reshape(16, 16)
        scales, L = make_qx_quants(sub)
        abs_scales = np.abs(scales)
        ib = int(np.argmax(abs_scales))  # first of the largest, as `abs_scale > max_abs_scale`
        max_scale = scales[ib]
        if abs_scales[ib] < F32(1e-15):
            continue  # all zero: every byte 0
        iscale = F32(-128.0) / max_scale
        d = np.float16(F32(1) / iscale)
        q_scales = np.minimum(127, nearest_int(iscale * scales)).astype(np.int8)
        df = F32(d)
        for j in range(16):
            dj = F32(df * F32(q_scales[j]))
            if dj == 0:
                continue
            l = nearest_int((sub[j] / dj).astype(F32))
            L[j] = np.clip(l, -32, 31) + 32
        q = L.reshape(256).astype(np.uint8)
        ql = np.zeros(128, np.uint8)
        qh = np.zeros(64, np.uint8)
        for half in range(2):
            h = q[128 * half:128 * half + 128]
            for l in range(32):
                ql[64 * half + l] = (h[l] & 0xF) | ((h[l + 64] & 0xF) << 4)
                ql[64 * half + l + 32] = (h[l + 32] & 0xF) | ((h[l + 96] & 0xF) << 4)
                qh[32 * half + l] = (h[l] >> 4) | ((h[l + 32] >> 4) << 2) | ((h[l + 64] >> 4) << 4) | ((h[l + 96] >> 4) << 6)
        out[b, :128] = ql
        out[b, 128:192] = qh
        out[b, 192:208] = q_scales.view(np.uint8)
        out[b, 208:210] = np.array([d], dtype="<f2").view(np.uint8)
    return out.reshape(-1)


def main():
    kind, src, dst = sys.argv[1:4]
    values = np.fromfile(src, dtype="<f4")
    if kind == "q8_0":
        import gguf

        data = gguf.quants.quantize(values.reshape(1, -1), gguf.GGMLQuantizationType.Q8_0)
    elif kind == "q6_k":
        data = quantize_q6_k(values)
    else:
        raise SystemExit(f"unknown type {kind}")
    np.asarray(data, dtype=np.uint8).tofile(dst)


if __name__ == "__main__":
    main()
