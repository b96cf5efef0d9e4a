// --head-type for `bitnet run`, `chat`, `bench` and `eval`: the opt-in lower-precision output head
// (f16 = the head as stored in the file, q8_0, q6_k; see HeadType in include/bitnet/bitnet.hpp).
#pragma once

#include <optional>
#include <string>

#include "quant/tensor_type.hpp"

namespace CLI {
class App;
}

namespace bitnet::tools {

void add_head_type_option(CLI::App& cmd, std::string& value);

// nullopt for "f16" (the head as stored), else the type to quantize it to (Q8_0, Q6_K).
std::optional<TensorType> head_quant_type(const std::string& value);

}  // namespace bitnet::tools
