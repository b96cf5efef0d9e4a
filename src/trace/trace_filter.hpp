// Which (layer, stage) records a trace keeps: BITNET_TRACE_FILTER / --trace-filter, a comma list
// of LAYER:STAGE patterns. LAYER is `*` (every layer, and the model-level stages embeddings,
// final_norm and logits), N or N-M; STAGE is a stage name with `*` wildcards (`attn_*`). A bare
// STAGE means `*:STAGE`. Examples: `0-3:*`, `*:attn_out,*:logits`, `ffn_*`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/stage.hpp"

namespace bitnet {

class TraceFilter {
 public:
  // Everything passes.
  TraceFilter() = default;

  // Throws bitnet::Error (config) naming the bad pattern: an empty one, a layer that is not `*`,
  // N or N-M with N <= M, or a stage pattern that matches no stage.
  static TraceFilter parse(std::string_view spec);

  // BITNET_TRACE_FILTER when set and non-empty, else nullopt (keep everything).
  static std::optional<TraceFilter> from_environment();

  bool matches(int layer, Stage stage) const;
  bool keeps_everything() const { return patterns_.empty(); }
  // The spec as given (empty when everything passes).
  const std::string& spec() const { return spec_; }

 private:
  struct Pattern {
    bool any_layer = true;
    int first_layer = 0;
    int last_layer = 0;
    std::string stage_glob;
  };
  std::vector<Pattern> patterns_;
  std::string spec_;
};

}  // namespace bitnet
