#include "trace/reference_stage_names.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace bitnet {
namespace {

// Names given by build_bitnet (llama.cpp, arch "bitnet") and build_bitnet_158 (bitnet.cpp, arch
// "bitnet-b1.58"); the callback appends "-<layer>" to per-layer names.
constexpr std::array<std::pair<std::string_view, Stage>, 14> kLayerNames = {{
    {"attn_norm", Stage::attn_norm},
    {"Qcur", Stage::q_proj},
    {"Kcur", Stage::k_proj},
    {"Vcur", Stage::v_proj},
    {"kqv_out", Stage::attn_out},
    {"attn_sub_norm", Stage::attn_sub_norm},
    {"attn_o_out", Stage::o_proj},
    {"ffn_norm", Stage::ffn_norm},
    {"ffn_gate", Stage::ffn_gate},
    {"ffn_up", Stage::ffn_up},
    {"ffn_sub_out", Stage::ffn_act},  // act(gate) * up: ffn_gate_par renamed by the caller
    {"ffn_sub_norm", Stage::ffn_sub_norm},
    {"ffn_down", Stage::ffn_out},
    {"l_out", Stage::layer_out},
}};

constexpr std::array<std::pair<std::string_view, Stage>, 3> kModelNames = {{
    {"inp_embd", Stage::embeddings},
    {"result_norm", Stage::final_norm},
    {"result_output", Stage::logits},
}};

}  // namespace

std::optional<ReferenceStage> reference_stage(std::string_view tensor_name,
                                              bool has_ffn_scale_tensors) {
  for (const auto& [name, stage] : kModelNames) {
    if (tensor_name == name) return ReferenceStage{stage, -1};
  }
  const size_t dash = tensor_name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == tensor_name.size()) return std::nullopt;
  int layer = -1;
  const char* first = tensor_name.data() + dash + 1;
  const char* last = tensor_name.data() + tensor_name.size();
  const auto [end, ec] = std::from_chars(first, last, layer);
  if (ec != std::errc() || end != last || layer < 0) return std::nullopt;

  std::string_view base = tensor_name.substr(0, dash);
  if (has_ffn_scale_tensors) {
    if (base == "ffn_gate" || base == "ffn_up") return std::nullopt;
    if (base == "ffn_gate_s") base = "ffn_gate";
    if (base == "ffn_up_s") base = "ffn_up";
  }
  for (const auto& [name, stage] : kLayerNames) {
    if (base == name) return ReferenceStage{stage, layer};
  }
  return std::nullopt;
}

}  // namespace bitnet
