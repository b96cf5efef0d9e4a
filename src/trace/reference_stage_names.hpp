// llama.cpp / bitnet.cpp name the tensors of their BitNet graphs through the graph-build callback
// ("attn_norm-2", "Qcur-2", "result_output"); an eval-callback adapter sees those names. This maps
// them to our stages. docs/crossval.md has the table and what has no counterpart.
#pragma once

#include <optional>
#include <string_view>

#include "trace/stage.hpp"

namespace bitnet {

struct ReferenceStage {
  Stage stage;
  int layer;  // -1 for embeddings, final_norm, logits
};

// The stage a reference tensor name stands for, or nullopt when it has none (kq, ffn_inp, norm-2,
// ...). Two caveats the caller must apply, because the reference reuses names:
// - "Qcur-L" and "Kcur-L" name both the projection and, later in the same graph, its RoPE'd copy:
//   only the first tensor of that name per graph evaluation is q_proj / k_proj.
// - Models with separate scale tensors name the scaled FFN products "ffn_gate_s-L"/"ffn_up_s-L";
//   then the unscaled "ffn_gate-L"/"ffn_up-L" that come first are not our stages. Set
//   `has_ffn_scale_tensors` for such models.
std::optional<ReferenceStage> reference_stage(std::string_view tensor_name,
                                              bool has_ffn_scale_tensors = false);

}  // namespace bitnet
