#include "trace_option.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "bitnet/error.hpp"
#include "trace/trace_filter.hpp"

namespace bitnet::tools {

void set_trace_filter(const std::string& spec) {
  (void)TraceFilter::parse(spec);
  ::setenv("BITNET_TRACE_FILTER", spec.c_str(), 1);
}

void add_trace_filter_option(CLI::App& cmd) {
  cmd.add_option_function<std::string>(
         "--trace-filter",
         [](const std::string& spec) { ::setenv("BITNET_TRACE_FILTER", spec.c_str(), 1); },
         "with BITNET_TRACE_DIR: record only these LAYER:STAGE patterns (e.g. 0-3:*,*:logits; "
         "sets BITNET_TRACE_FILTER)")
      ->check([](const std::string& spec) {
        try {
          (void)TraceFilter::parse(spec);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
}

}  // namespace bitnet::tools
