// OpenMP waiting policy for shared machines. libgomp lets idle threads spin ~300k iterations at
// every barrier before sleeping; on cores shared with other busy processes a spinning thread steals
// the time slice the thread being waited for needs, and 2-thread decode becomes many times slower
// than 1 thread. libgomp reads its settings once, when it is loaded, so a program can only change
// them for itself by re-executing with the variables set.
#pragma once

namespace bitnet::kernels {

// The spin count set when the user has chosen no policy: about 10 microseconds of spinning, then
// the thread sleeps (a barrier on idle cores still completes while spinning).
inline constexpr const char* kDefaultGompSpinCount = "10000";

// If neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set (and BITNET_OMP_DEFAULTS is not "0"), sets
// GOMP_SPINCOUNT to kDefaultGompSpinCount and re-executes this program (/proc/self/exe) with the
// same arguments; returns only when nothing was to be done or exec failed. Call first in main().
void apply_omp_wait_defaults(char** argv);

}  // namespace bitnet::kernels
