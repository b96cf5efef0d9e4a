// OpenMP waiting policy for shared machines. libgomp lets idle threads spin ~300k iterations at
// every barrier before sleeping; on cores shared with other busy processes a spinning thread steals
// the time slice the thread being waited for needs, and 2-thread decode becomes many times slower
// than 1 thread. libgomp reads its settings once, when it is loaded, so a program can only change
// them for itself by re-executing with the variables set.
#pragma once

namespace bitnet::kernels {

// The spin count set when the user has chosen no policy: none, waiting threads sleep at once
// (measured on this shared 2-core machine at load ~3.6, 2-thread decode of 2b-bitnet TQ2_0: spin 0
// 17.3 tok/s, 1000 12.5, passive 16.2, libgomp's default 5.5, active 3.1). On dedicated cores
// OMP_WAIT_POLICY=active (or any GOMP_SPINCOUNT) restores spinning.
inline constexpr const char* kDefaultGompSpinCount = "0";

// If neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set (and BITNET_OMP_DEFAULTS is not "0"), sets
// GOMP_SPINCOUNT to kDefaultGompSpinCount and re-executes this program (/proc/self/exe) with the
// same arguments; returns only when nothing was to be done or exec failed. Call first in main().
void apply_omp_wait_defaults(char** argv);

}  // namespace bitnet::kernels
