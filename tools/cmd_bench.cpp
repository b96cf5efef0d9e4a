// bitnet bench: prompt processing (pp: one batch of p tokens) and text generation (tg: n single-
// token steps) in tokens/s, with the meanings, table and JSON field names of llama.cpp's
// llama-bench so the numbers compare side by side (docs/bench.md).
// Exit codes: 0 success, 1 error (message on stderr), CLI11's codes for bad arguments.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "head_type_option.hpp"
#include "kernels/cpu_features.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::tools {
namespace {

struct BenchOptions {
  std::string model;
  int n_prompt = 128;
  int n_gen = 32;
  int threads = 0;
  int repetitions = 3;
  bool json = false;
  bool fast_numerics = false;
  std::string head_type = "f16";
};

// What llama-bench reports about a model: total tensor bytes and elements, and a description.
struct ModelFacts {
  std::string filename;
  std::string type;       // "<arch> <params> <ternary type>", like llama_model_desc, and a
                          // quantized head as " + head Q8_0"
  std::string head_type;  // the head as computed: "F16" (as stored), "Q8_0", "Q6_K"
  uint64_t size = 0;
  uint64_t n_params = 0;
};

struct TestResult {
  std::string name;  // "pp128", "tg32"
  int n_prompt = 0;
  int n_gen = 0;
  std::vector<double> samples_ns;
  std::string time;  // ISO 8601, when the test started
};

ModelFacts model_facts(const Model& model, const std::string& path) {
  ModelFacts f;
  f.filename = path;
  std::map<TensorType, uint64_t> elements_by_type;
  for (const auto& t : model.file().tensors()) {
    f.size += static_cast<uint64_t>(t.nbytes);
    f.n_params += static_cast<uint64_t>(t.n_elements);
    elements_by_type[t.type] += static_cast<uint64_t>(t.n_elements);
  }
  // The weight type is the one holding most parameters among the 2-D projections (the ternary
  // type for BitNet models), as the file-type part of llama_model_desc.
  TensorType main_type = TensorType::F32;
  uint64_t most = 0;
  for (const auto& [type, n] : elements_by_type) {
    if (type != TensorType::F32 && type != TensorType::F16 && n > most) {
      most = n;
      main_type = type;
    }
  }
  if (most == 0 && !elements_by_type.empty()) main_type = elements_by_type.rbegin()->first;
  char params[32];
  const double p = static_cast<double>(f.n_params);
  if (p >= 1e9) {
    std::snprintf(params, sizeof params, "%.0fB", p / 1e9);
  } else {
    std::snprintf(params, sizeof params, "%.0fM", p / 1e6);
  }
  f.type = model.config().arch_name + " " + params + " " + std::string(to_string(main_type));
  const auto& quantized_head = model.weights().output_quantized;
  if (quantized_head.empty()) {
    f.head_type = std::string(to_string(model.weights().output.type));
  } else {
    f.head_type = std::string(to_string(quantized_head.type));
    f.type += " + head " + f.head_type;
  }
  return f;
}

std::string cpu_features_string() {
  const auto& c = kernels::cpu_features();
  std::string s;
  auto add = [&](bool has, const char* name) {
    if (has) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(c.avx2, "AVX2");
  add(c.fma, "FMA");
  add(c.f16c, "F16C");
  add(c.avx512f, "AVX512F");
  add(c.avx512bw, "AVX512BW");
  add(c.avx512vl, "AVX512VL");
  add(c.avx512vnni, "AVX512_VNNI");
  add(c.avx_vnni, "AVX_VNNI");
  return s.empty() ? "none" : s;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1), as llama-bench.
double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::vector<double> tokens_per_second(const TestResult& t) {
  std::vector<double> ts;
  const double n = t.n_prompt + t.n_gen;
  for (double ns : t.samples_ns) ts.push_back(1e9 * n / ns);
  return ts;
}

// Random tokens after a BOS, as llama-bench's test_prompt / test_gen (the values do not matter
// for speed, only that they are valid ids).
class TokenSource {
 public:
  TokenSource(int32_t n_vocab, int32_t bos) : dist_(0, n_vocab - 1), bos_(bos) {}
  int32_t first() { return bos_ >= 0 ? bos_ : next(); }
  int32_t next() { return dist_(rng_); }

 private:
  std::mt19937 rng_{1234};
  std::uniform_int_distribution<int32_t> dist_;
  int32_t bos_;
};

int32_t bos_id(const Model& model) {
  const auto id = model.file().get_u64("tokenizer.ggml.bos_token_id");
  const bool add_bos = model.file().get_bool("tokenizer.ggml.add_bos_token").value_or(true);
  return id && add_bos ? static_cast<int32_t>(*id) : -1;
}

void run_prompt(Context& ctx, TokenSource& src, int n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  tokens[0] = src.first();
  for (size_t i = 1; i < tokens.size(); ++i) tokens[i] = src.next();
  ctx.eval(tokens, /*all_logits=*/false);
}

void run_gen(Context& ctx, TokenSource& src, int n) {
  int32_t token = src.first();
  for (int i = 0; i < n; ++i) {
    ctx.eval(std::span<const int32_t>(&token, 1), /*all_logits=*/false);
    token = src.next();
  }
}

TestResult run_test(Context& ctx, TokenSource& src, int n_prompt, int n_gen, int reps) {
  TestResult t;
  t.name = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
  t.n_prompt = n_prompt;
  t.n_gen = n_gen;
  t.time = now_iso8601();
  // Warm-up (not counted): page the weights in, grow the buffers.
  ctx.reset();
  if (n_prompt > 0) run_prompt(ctx, src, n_prompt);
  if (n_gen > 0) run_gen(ctx, src, 1);
  for (int r = 0; r < reps; ++r) {
    ctx.reset();
    const auto start = std::chrono::steady_clock::now();
    if (n_prompt > 0) run_prompt(ctx, src, n_prompt);
    if (n_gen > 0) run_gen(ctx, src, n_gen);
    const auto ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    t.samples_ns.push_back(ns.count());
  }
  return t;
}

void print_table(const ModelFacts& m, int threads, const std::vector<TestResult>& tests) {
  const std::string backend = "CPU " + std::string(kernels::to_string(kernels::selected_isa()));
  std::printf("| %-40s | %10s | %10s | %-12s | %7s | %8s | %20s |\n", "model", "size", "params",
              "backend", "threads", "test", "t/s");
  std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: |\n", std::string(40, '-').c_str(),
              std::string(9, '-').c_str(), std::string(9, '-').c_str(),
              std::string(12, '-').c_str(), std::string(6, '-').c_str(),
              std::string(7, '-').c_str(), std::string(19, '-').c_str());
  char size[32], params[32];
  const double mib = static_cast<double>(m.size) / (1024.0 * 1024);
  if (mib >= 1024) {
    std::snprintf(size, sizeof size, "%.2f GiB", mib / 1024);
  } else {
    std::snprintf(size, sizeof size, "%.2f MiB", mib);
  }
  const double n = static_cast<double>(m.n_params);
  if (n >= 1e9) {
    std::snprintf(params, sizeof params, "%.2f B", n / 1e9);
  } else {
    std::snprintf(params, sizeof params, "%.2f M", n / 1e6);
  }
  for (const auto& t : tests) {
    const auto ts = tokens_per_second(t);
    char speed[64];
    // "±" is two bytes but one column: pad to 21 bytes for a 20-column cell.
    std::snprintf(speed, sizeof speed, "%.2f ± %.2f", mean(ts), stddev(ts));
    std::printf("| %-40s | %10s | %10s | %-12s | %7d | %8s | %21s |\n", m.type.c_str(), size,
                params, backend.c_str(), threads, t.name.c_str(), speed);
  }
  std::printf("\nCPU features: %s; kernels: %s\n", cpu_features_string().c_str(),
              std::string(kernels::to_string(kernels::selected_isa())).c_str());
}

void print_json(const ModelFacts& m, int threads, int n_ctx_batch, const char* numerics,
                const std::vector<TestResult>& tests) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& t : tests) {
    const auto ts = tokens_per_second(t);
    nlohmann::ordered_json j;
    j["build_commit"] = "bitnet-cxx";
    j["build_number"] = 0;
    j["cpu_info"] = cpu_model_name();
    j["gpu_info"] = "";
    j["backends"] = "CPU";
    j["model_filename"] = m.filename;
    j["model_type"] = m.type;
    j["model_size"] = m.size;
    j["model_n_params"] = m.n_params;
    j["n_batch"] = n_ctx_batch;
    j["n_ubatch"] = 512;
    j["n_threads"] = threads;
    j["type_k"] = "f16";
    j["type_v"] = "f16";
    j["n_gpu_layers"] = 0;
    j["use_mmap"] = true;
    j["n_prompt"] = t.n_prompt;
    j["n_gen"] = t.n_gen;
    j["test_time"] = t.time;
    j["avg_ns"] = static_cast<uint64_t>(std::llround(mean(t.samples_ns)));
    j["stddev_ns"] = static_cast<uint64_t>(std::llround(stddev(t.samples_ns)));
    j["avg_ts"] = mean(ts);
    j["stddev_ts"] = stddev(ts);
    std::vector<uint64_t> samples_ns;
    for (double ns : t.samples_ns) samples_ns.push_back(static_cast<uint64_t>(std::llround(ns)));
    j["samples_ns"] = samples_ns;
    j["samples_ts"] = ts;
    j["cpu_features"] = cpu_features_string();
    j["kernel_isa"] = std::string(kernels::to_string(kernels::selected_isa()));
    j["numerics"] = numerics;
    j["head_type"] = m.head_type;
    all.push_back(j);
  }
  std::printf("%s\n", all.dump(2).c_str());
}

void run_bench(const BenchOptions& o) {
  const int threads = o.threads > 0
                          ? o.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  LoadOptions load;
  load.head_type = head_quant_type(o.head_type);
  const auto model = Model::load(o.model, load);
  const ModelFacts facts = model_facts(*model, o.model);
  ContextOptions copt;
  copt.n_ctx = std::max(1, std::max(o.n_prompt, o.n_gen));
  copt.n_threads = threads;
  copt.numerics = o.fast_numerics ? Numerics::Fast : Numerics::Reference;
  Context ctx(model, copt);
  TokenSource src(ctx.n_vocab(), bos_id(*model));
  std::vector<TestResult> tests;
  if (o.n_prompt > 0) tests.push_back(run_test(ctx, src, o.n_prompt, 0, o.repetitions));
  if (o.n_gen > 0) tests.push_back(run_test(ctx, src, 0, o.n_gen, o.repetitions));
  if (o.json) {
    print_json(facts, threads, std::max(o.n_prompt, 1), o.fast_numerics ? "fast" : "reference",
               tests);
  } else {
    print_table(facts, threads, tests);
    std::printf("numerics: %s%s\n",
                o.fast_numerics ? "fast (not the reference's bits)"
                                : "reference (bit-exact with the reference)",
                model->weights().output_quantized.empty()
                    ? ""
                    : ", except the output head (--head-type: quantized at load)");
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Prompt-processing and generation speed, as llama-bench");
  cmd->add_option("-m,--model", opt->model, "GGUF model")->required();
  cmd->add_option("-p,--n-prompt", opt->n_prompt, "prompt tokens in one batch (pp test; 0 = skip)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-n,--n-gen", opt->n_gen, "generated tokens, one per step (tg test; 0 = skip)")
      ->check(CLI::NonNegativeNumber);
  add_poll_option(*cmd);
  cmd->add_option("-t,--threads", opt->threads, "threads (default: all hardware threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repetitions", opt->repetitions, "repetitions of each test (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opt->json, "print a JSON array (llama-bench's -o json field names)");
  cmd->add_flag("--fast-numerics", opt->fast_numerics,
                "fast numerics: TQ sums block by block, one-token roundings for every batch (not "
                "bit-exact with the reference; see docs/architecture.md)");
  add_head_type_option(*cmd, opt->head_type);
  cmd->callback([opt] { run_bench(*opt); });
}

}  // namespace bitnet::tools
