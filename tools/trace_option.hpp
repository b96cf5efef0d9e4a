// --trace-filter SPEC on every subcommand that runs the model: the same as BITNET_TRACE_FILTER
// (trace/trace_filter.hpp), which it sets, so that every context of the process records the same
// subset. Checked while the arguments are parsed: a bad pattern is a usage error.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace bitnet::tools {

void add_trace_filter_option(CLI::App& cmd);
// Checks the spec (bitnet::Error, config, naming the bad pattern) and sets BITNET_TRACE_FILTER.
void set_trace_filter(const std::string& spec);

}  // namespace bitnet::tools
