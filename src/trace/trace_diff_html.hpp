// trace-diff --html: a heat map layer x stage of the relative RMS difference, the first
// divergent (seq, layer, stage) marked, and per-stage RMS of both sides; drawn from the JSON
// document (docs/schemas/trace-diff.schema.json) that the page embeds byte for byte.
#pragma once

#include <string>

namespace bitnet {

// `json_text` is trace_diff_json(diff).dump(2). Throws nlohmann::json errors on a malformed one.
std::string trace_diff_html(const std::string& json_text);

}  // namespace bitnet
