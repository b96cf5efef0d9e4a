#include "trace/stage.hpp"

#include <array>
#include <utility>

namespace bitnet {
namespace {
constexpr std::array<std::pair<Stage, std::string_view>, 17> kNames = {{
    {Stage::embeddings, "embeddings"},
    {Stage::attn_norm, "attn_norm"},
    {Stage::q_proj, "q_proj"},
    {Stage::k_proj, "k_proj"},
    {Stage::v_proj, "v_proj"},
    {Stage::attn_out, "attn_out"},
    {Stage::attn_sub_norm, "attn_sub_norm"},
    {Stage::o_proj, "o_proj"},
    {Stage::ffn_norm, "ffn_norm"},
    {Stage::ffn_gate, "ffn_gate"},
    {Stage::ffn_up, "ffn_up"},
    {Stage::ffn_act, "ffn_act"},
    {Stage::ffn_sub_norm, "ffn_sub_norm"},
    {Stage::ffn_out, "ffn_out"},
    {Stage::layer_out, "layer_out"},
    {Stage::final_norm, "final_norm"},
    {Stage::logits, "logits"},
}};
}  // namespace

std::string_view to_string(Stage stage) {
  for (const auto& [s, name] : kNames) {
    if (s == stage) return name;
  }
  return "unknown";
}

std::optional<Stage> stage_from_string(std::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

}  // namespace bitnet
