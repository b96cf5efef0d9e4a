// TEST ONLY. BITNET_TEST_PERTURB=layer:N[:TENSOR] (TENSOR one of attn_q, attn_k, attn_v,
// attn_output, ffn_gate, ffn_up, ffn_down; default attn_q) negates the first non-zero weight of
// blk.N.TENSOR.weight in a private copy of the tensor. It exists so that tests can prove that
// `bitnet crossval-per-token` and `bitnet trace-diff` catch an engine that is wrong in one layer
// (docs/crossval.md). Never set it outside tests.
#include <cstdio>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "model/model.hpp"
#include "quant/dequantize.hpp"

namespace bitnet {
namespace {

BitLinearWeights& projection(LayerWeights& l, const std::string& tensor) {
  if (tensor == "attn_q") return l.wq;
  if (tensor == "attn_k") return l.wk;
  if (tensor == "attn_v") return l.wv;
  if (tensor == "attn_output") return l.wo;
  if (tensor == "ffn_gate") return l.gate;
  if (tensor == "ffn_up") return l.up;
  if (tensor == "ffn_down") return l.down;
  throw Error(ErrorCategory::config, "BITNET_TEST_PERTURB: unknown tensor '" + tensor + "'");
}

}  // namespace

void Model::apply_test_perturbation(const std::string& spec) {
  const std::string usage = "BITNET_TEST_PERTURB='" + spec + "': expected layer:N[:TENSOR]";
  if (spec.rfind("layer:", 0) != 0) throw Error(ErrorCategory::config, usage);
  const std::string rest = spec.substr(6);
  const auto colon = rest.find(':');
  const std::string tensor = colon == std::string::npos ? "attn_q" : rest.substr(colon + 1);
  int64_t layer = -1;
  try {
    layer = std::stoll(rest.substr(0, colon));
  } catch (const std::exception&) {
    throw Error(ErrorCategory::config, usage);
  }
  if (layer < 0 || layer >= config_.n_layer) {
    throw Error(ErrorCategory::config, usage + " (layer out of range)");
  }
  BitLinearWeights& target = projection(weights_.layers[static_cast<size_t>(layer)], tensor);
  const std::string name = "blk." + std::to_string(layer) + "." + tensor + ".weight";
  const gguf::TensorInfo& info = file_.tensor(name);
  std::vector<float> values(static_cast<size_t>(info.n_elements));
  dequantize_tensor(info.type, info.data, values.data(), info.n_elements, info.ne[0]);
  size_t flipped = 0;
  while (flipped < values.size() && values[flipped] == 0.0f) ++flipped;
  if (flipped == values.size()) throw Error(ErrorCategory::model, name + ": all weights are zero");
  values[flipped] = -values[flipped];
  test_perturbed_tensor_.resize(static_cast<size_t>(info.nbytes));
  quantize_ternary(info.type, values.data(), test_perturbed_tensor_.data(), info.n_elements,
                   info.ne[0]);
  target.w = kernels::TernaryWeights::from_tensor(info.type, test_perturbed_tensor_.data(),
                                                  info.ne[0], info.rows());
  kernels::prepare_for_kernels(target.w);
  std::fprintf(stderr, "BITNET_TEST_PERTURB: negated weight %zu of %s (test only)\n", flipped,
               name.c_str());
}

}  // namespace bitnet
