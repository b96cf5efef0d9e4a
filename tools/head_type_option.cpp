#include "head_type_option.hpp"

#include <CLI/CLI.hpp>

namespace bitnet::tools {

void add_head_type_option(CLI::App& cmd, std::string& value) {
  cmd.add_option("--head-type", value,
                 "output head format: f16 (as stored, reference numerics), or quantized once at "
                 "load for faster decoding with slightly different logits: q8_0, q6_k")
      ->check(CLI::IsMember({"f16", "q8_0", "q6_k"}, CLI::ignore_case))
      ->capture_default_str();
}

std::optional<TensorType> head_quant_type(const std::string& value) {
  const auto type = tensor_type_from_name(value);
  if (type == TensorType::Q8_0 || type == TensorType::Q6_K) return type;
  return std::nullopt;
}

}  // namespace bitnet::tools
