// bitnet inspect MODEL.gguf: what a GGUF file holds (header, metadata, tensors).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "gguf/gguf.hpp"

namespace bitnet::tools {

namespace {
struct InspectOptions {
  std::string model;
};

void run_inspect(const InspectOptions& opt) {
  const auto file = gguf::GgufFile::open(opt.model);
  std::printf("file: %s\nGGUF version: %u\nalignment: %u\nfile size: %llu bytes\n", file.path().c_str(),
              file.version(), file.alignment(), static_cast<unsigned long long>(file.file_size()));
  if (auto arch = file.get_string("general.architecture")) {
    std::printf("architecture: %.*s\n", static_cast<int>(arch->size()), arch->data());
  }
  std::printf("tensors: %zu\n", file.tensors().size());
  for (const auto& t : file.tensors()) {
    std::printf("  %-32.*s %-6s %-16s %lld bytes\n", static_cast<int>(t.name.size()), t.name.data(),
                std::string(to_string(t.type)).c_str(), t.shape_string().c_str(),
                static_cast<long long>(t.nbytes));
  }
}
}  // namespace

void register_inspect(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show a GGUF model's architecture, metadata and tensors");
  cmd->add_option("model,-m,--model", opt->model, "GGUF file")->required();
  cmd->callback([opt] { run_inspect(*opt); });
}

}  // namespace bitnet::tools
