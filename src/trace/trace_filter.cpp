#include "trace/trace_filter.hpp"

#include <charconv>
#include <cstdlib>

#include "bitnet/error.hpp"

namespace bitnet {
namespace {

[[noreturn]] void fail(std::string_view pattern, const std::string& why) {
  throw Error(ErrorCategory::config,
              "trace filter: pattern '" + std::string(pattern) + "': " + why +
                  " (expected LAYER:STAGE, LAYER = * | N | N-M, STAGE a stage name with * "
                  "wildcards, comma-separated)");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view text, int& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0;
}

// Glob with `*` only (any run of characters), iterative with one backtrack point.
bool glob_match(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

constexpr Stage kAllStages[] = {
    Stage::embeddings, Stage::attn_norm,     Stage::q_proj,       Stage::k_proj,   Stage::v_proj,
    Stage::attn_out,   Stage::attn_sub_norm, Stage::o_proj,       Stage::ffn_norm, Stage::ffn_gate,
    Stage::ffn_up,     Stage::ffn_act,       Stage::ffn_sub_norm, Stage::ffn_out,  Stage::layer_out,
    Stage::final_norm, Stage::logits,
};

}  // namespace

TraceFilter TraceFilter::parse(std::string_view spec) {
  TraceFilter filter;
  filter.spec_ = std::string(trim(spec));
  std::string_view rest = filter.spec_;
  if (rest.empty()) fail(spec, "empty filter");
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) fail(spec, "empty pattern in the list");
    Pattern p;
    std::string_view layer = "*", stage = item;
    if (const size_t colon = item.find(':'); colon != std::string_view::npos) {
      layer = trim(item.substr(0, colon));
      stage = trim(item.substr(colon + 1));
    }
    if (layer != "*") {
      p.any_layer = false;
      const size_t dash = layer.find('-');
      const bool ok = dash == std::string_view::npos
                          ? parse_int(layer, p.first_layer) && (p.last_layer = p.first_layer, true)
                          : parse_int(layer.substr(0, dash), p.first_layer) &&
                                parse_int(layer.substr(dash + 1), p.last_layer);
      if (!ok) fail(item, "layer '" + std::string(layer) + "' is not *, N or N-M");
      if (p.first_layer > p.last_layer)
        fail(item, "layer range " + std::string(layer) + " is empty");
    }
    if (stage.empty()) fail(item, "no stage");
    bool any = false;
    for (const Stage s : kAllStages) any = any || glob_match(stage, to_string(s));
    if (!any) fail(item, "no stage is called '" + std::string(stage) + "'");
    p.stage_glob = std::string(stage);
    filter.patterns_.push_back(std::move(p));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return filter;
}

std::optional<TraceFilter> TraceFilter::from_environment() {
  const char* spec = std::getenv("BITNET_TRACE_FILTER");
  if (spec == nullptr || *spec == '\0') return std::nullopt;
  return parse(spec);
}

bool TraceFilter::matches(int layer, Stage stage) const {
  if (patterns_.empty()) return true;
  for (const auto& p : patterns_) {
    if (!p.any_layer && (layer < p.first_layer || layer > p.last_layer)) continue;
    if (glob_match(p.stage_glob, to_string(stage))) return true;
  }
  return false;
}

}  // namespace bitnet
