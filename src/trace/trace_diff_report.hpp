// The two renderings of a TraceDiff: a compact per-layer text table and one JSON document
// (schema: docs/schemas/trace-diff.schema.json).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "trace/trace_diff.hpp"

namespace bitnet {

std::string trace_diff_text(const TraceDiff& diff);
nlohmann::ordered_json trace_diff_json(const TraceDiff& diff);

// "seq 0, layer 2, stage q_proj, pos 5" (layer shown as "-" for the model-level stages).
std::string describe_key(const TraceKey& key);

}  // namespace bitnet
