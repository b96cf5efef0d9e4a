// OpenMP waiting policy. Between the parallel regions of a forward pass (a few per layer, hundreds
// per token) the worker threads wait: spinning makes the next wake-up immediate, sleeping makes it
// cost a futex wake (tens of microseconds on a VM). On dedicated cores spinning is much faster; on
// cores shared with other busy processes a spinning thread steals the time slice the thread it
// waits for needs, and it is much slower. libgomp reads its settings once, when it is loaded, so a
// program can only change them for itself by re-executing with the variables set.
#pragma once

#include <optional>
#include <string_view>

namespace bitnet::kernels {

// llama.cpp's `--poll` level (0: sleep at once ... 100: spin longest; its default is 50) as a
// libgomp spin count. Level 50 is kDefaultGompSpinCount.
long spin_count_for_poll(int level);

// The spin count when the user has chosen no policy. Measured on 2 idle Zen 4 cores, 2-thread
// decode (docs/performance.md, "Threads"): spin 0 17.4 tok/s (2b4t I2_S) / 20.9 (2b-bitnet TQ2_0),
// 10000: 24.9 / 27.6, libgomp's default (300000) 22.5. On a loaded machine (load 8) spinning
// halves decode speed (TQ2_0 tg16: spin 0 8.3, 10000 3.7): use `--poll 0` or GOMP_SPINCOUNT=0
// there.
inline constexpr long kDefaultGompSpinCount = 10000;

// The value of `--poll N` / `--poll=N` in argv (nullopt when absent or not a number in 0..100; the
// command-line parser reports bad values later).
std::optional<int> poll_level_in(char** argv);

// Sets GOMP_SPINCOUNT and re-executes this program (/proc/self/exe) with the same arguments when
// `--poll` asks for a spin count, or when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set (the
// default above; opt out with BITNET_OMP_DEFAULTS=0). Returns when there is nothing to do or the
// exec failed. Call first in main().
void apply_omp_wait_defaults(char** argv);

}  // namespace bitnet::kernels
