// The debugging switches read from the environment (README, "Environment variables"):
// BITNET_DETERMINISTIC, BITNET_SEED and BITNET_DEBUG_LOGITS. Read on each call: they are
// process-level settings a cross-validation harness sets before it starts us, not state we keep.
#pragma once

#include <cstdint>
#include <optional>

namespace bitnet::debug_env {

// The sampling seed BITNET_DETERMINISTIC=1 uses when neither a seed nor BITNET_SEED is given.
inline constexpr uint32_t kDeterministicSeed = 42;

// BITNET_DETERMINISTIC: any value but empty or "0". One thread, a fixed kernel set and a fixed
// sampling seed, so that runs give the same bits whatever -t says.
bool deterministic();

// BITNET_SEED=N (0..4294967294): the seed used when the caller asked for a random one. A value
// that is not such a number is ignored with a warning on stderr.
std::optional<uint32_t> seed();

// BITNET_DEBUG_LOGITS: any value but empty or "0". Each evaluated position's top-5 logits go to
// stderr.
bool debug_logits();

}  // namespace bitnet::debug_env
