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
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/cuda/device_query.hpp"
#include "bench_bound.hpp"
#include "bitnet/error.hpp"
#include "commands.hpp"
#include "gpu_layers_option.hpp"
#include "head_type_option.hpp"
#include "kernels/cpu_features.hpp"
#include "kv_cache_option.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::tools {
namespace {

// -p/-n/-d/-t/-b take llama-bench's value lists: "1,2,4", repeated flags, "first-last",
// "first-last+step" or "first-last*factor".
struct BenchOptions {
  std::string model;
  std::vector<std::string> n_prompt{"128"};
  std::vector<std::string> n_gen{"32"};
  std::vector<std::string> n_depth{"0"};
  std::vector<std::string> threads{"0"};
  std::vector<std::string> n_batch{"2048"};
  int poll = 50;
  int repetitions = 3;
  bool json = false;
  bool fast_numerics = false;
  std::string head_type = "f16";
  KvCacheTypes cache_types;
  std::optional<int> gpu_layers;  // -ngl
};

// What llama-bench reports about a model: total tensor bytes and elements, and a description.
struct ModelFacts {
  std::string filename;
  std::string type;       // "<arch> <params> <ternary type>", like llama_model_desc, and a
                          // quantized head as " + head Q8_0"
  std::string head_type;  // the head as computed: "F16" (as stored), "Q8_0", "Q6_K"
  uint64_t size = 0;
  uint64_t n_params = 0;
  OffloadPlan offload;  // the layers asked for on a GPU and those that run there
};

struct TestResult {
  std::string name;  // "pp128", "tg32", "pp512 @ d4096"
  int n_prompt = 0;
  int n_gen = 0;
  int n_depth = 0;
  int n_batch = 0;
  int threads = 0;
  std::vector<double> samples_ns;
  std::string time;                  // ISO 8601, when the test started
  std::optional<DecodeBound> bound;  // tg tests: what memory bandwidth allows
};

ModelFacts model_facts(const Model& model, const std::string& path) {
  ModelFacts f;
  f.filename = path;
  f.offload = model.offload();
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

// n tokens in batches of n_batch (a BOS first on an empty cache), as llama-bench's test_prompt.
void run_prompt(Context& ctx, TokenSource& src, int n, int n_batch) {
  std::vector<int32_t> tokens;
  for (int done = 0; done < n; done += n_batch) {
    const int len = std::min(n_batch, n - done);
    tokens.resize(static_cast<size_t>(len));
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = src.next();
    if (done == 0 && ctx.n_past() == 0) tokens[0] = src.first();
    ctx.eval(tokens, /*all_logits=*/false);
  }
}

void run_gen(Context& ctx, TokenSource& src, int n) {
  int32_t token = src.first();
  for (int i = 0; i < n; ++i) {
    ctx.eval(std::span<const int32_t>(&token, 1), /*all_logits=*/false);
    token = src.next();
  }
}

// One test, llama-bench's way: a warm-up run, then per repetition an emptied cache, n_depth tokens
// evaluated untimed (the "@ dN" of the name), and the timed pp or tg part.
TestResult run_test(Context& ctx, TokenSource& src, int n_prompt, int n_gen, int n_depth,
                    int n_batch, int reps) {
  TestResult t;
  t.name = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
  if (n_depth > 0) t.name += " @ d" + std::to_string(n_depth);
  t.n_prompt = n_prompt;
  t.n_gen = n_gen;
  t.n_depth = n_depth;
  t.n_batch = n_batch;
  t.threads = ctx.options().n_threads;
  t.time = now_iso8601();
  // Warm-up (not counted): page the weights in, grow the buffers.
  ctx.reset();
  if (n_depth > 0) run_prompt(ctx, src, n_depth, n_batch);
  if (n_prompt > 0) run_prompt(ctx, src, n_prompt, n_batch);
  if (n_gen > 0) run_gen(ctx, src, 1);
  for (int r = 0; r < reps; ++r) {
    ctx.reset();
    if (n_depth > 0) run_prompt(ctx, src, n_depth, n_batch);
    const auto start = std::chrono::steady_clock::now();
    if (n_prompt > 0) run_prompt(ctx, src, n_prompt, n_batch);
    if (n_gen > 0) run_gen(ctx, src, n_gen);
    const auto ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    t.samples_ns.push_back(ns.count());
  }
  return t;
}

void print_table(const ModelFacts& m, const std::vector<TestResult>& tests) {
  const std::string backend = "CPU " + std::string(kernels::to_string(kernels::selected_isa()));
  std::printf("| %-40s | %10s | %10s | %-12s | %7s | %7s | %15s | %20s |\n", "model", "size",
              "params", "backend", "threads", "n_batch", "test", "t/s");
  std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: | %s: |\n", std::string(40, '-').c_str(),
              std::string(9, '-').c_str(), std::string(9, '-').c_str(),
              std::string(12, '-').c_str(), std::string(6, '-').c_str(),
              std::string(6, '-').c_str(), std::string(14, '-').c_str(),
              std::string(19, '-').c_str());
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
    std::printf("| %-40s | %10s | %10s | %-12s | %7d | %7d | %15s | %21s |\n", m.type.c_str(), size,
                params, backend.c_str(), t.threads, t.n_batch, t.name.c_str(), speed);
  }
  bool first_bound = true;
  for (const auto& t : tests) {
    if (!t.bound) continue;
    if (std::exchange(first_bound, false)) std::printf("\n");
    const DecodeBound& b = *t.bound;
    const double bound = b.tokens_per_second();
    std::printf(
        "bound %s: %.2f t/s = %.1f GB/s read by %d thread%s / %.3f GB per token (weights "
        "%.3f + KV %.3f); measured %.2f t/s, %.0f%% of it\n",
        t.name.c_str(), bound, b.read_gbs, t.threads, t.threads == 1 ? "" : "s",
        (b.weight_bytes + b.kv_bytes) / 1e9, b.weight_bytes / 1e9, b.kv_bytes / 1e9,
        mean(tokens_per_second(t)), 100.0 * mean(tokens_per_second(t)) / bound);
  }
  const std::string features = kernels::cpu_features_string();
  std::printf("\nCPU features: %s; kernels: %s\n", features.empty() ? "none" : features.c_str(),
              std::string(kernels::to_string(kernels::selected_isa())).c_str());
}

// The CUDA devices the runtime reports, comma-separated ("" without the backend or a device).
std::string gpu_names() {
  std::string names;
  for (const auto& d : cuda::probe_runtime().devices) names += (names.empty() ? "" : ", ") + d.name;
  return names;
}

// Every key llama-bench -o json writes (tools/llama-bench; compare-llama-bench.py requires them),
// valued for our run, or llama-bench's default where the notion does not exist here; then ours.
void print_json(const ModelFacts& m, int poll, const char* numerics, const KvCacheTypes& kv,
                const std::vector<TestResult>& tests) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& t : tests) {
    const auto ts = tokens_per_second(t);
    nlohmann::ordered_json j;
    j["build_commit"] = "bitnet-cxx";
    j["build_number"] = 0;
    j["cpu_info"] = cpu_model_name();
    j["gpu_info"] = gpu_names();  // as llama-bench: the GPUs found, whether or not layers ran there
    j["backends"] = m.offload.gpu_layers > 0 ? "CUDA,CPU" : "CPU";
    j["model_filename"] = m.filename;
    j["model_type"] = m.type;
    j["model_size"] = m.size;
    j["model_n_params"] = m.n_params;
    j["n_batch"] = t.n_batch;
    j["n_ubatch"] = 512;
    j["n_threads"] = t.threads;
    j["cpu_mask"] = "0x0";
    j["cpu_strict"] = false;
    j["poll"] = poll;
    j["type_k"] = kv.k;
    j["type_v"] = kv.v;
    j["n_gpu_layers"] = m.offload.requested;  // as asked, as llama-bench reports it
    j["n_cpu_moe"] = 0;
    j["split_mode"] = "layer";
    j["main_gpu"] = 0;
    j["no_kv_offload"] = false;
    j["flash_attn"] = 0;  // an int in llama-bench (-1 auto, 0 off, 1 on): no flash attention here
    j["devices"] = "auto";
    j["tensor_split"] = "0.00";
    j["tensor_buft_overrides"] = "none";
    j["use_mmap"] = true;
    j["load_mode"] = "mmap";
    j["lazy_mode"] = "auto";
    j["embeddings"] = false;
    j["no_op_offload"] = 0;
    j["no_host"] = false;
    j["repack"] = false;
    j["fit_target"] = 0;
    j["fit_min_ctx"] = 0;
    j["n_prompt"] = t.n_prompt;
    j["n_gen"] = t.n_gen;
    j["n_depth"] = t.n_depth;
    j["test_time"] = t.time;
    j["avg_ns"] = static_cast<uint64_t>(std::llround(mean(t.samples_ns)));
    j["stddev_ns"] = static_cast<uint64_t>(std::llround(stddev(t.samples_ns)));
    j["avg_ts"] = mean(ts);
    j["stddev_ts"] = stddev(ts);
    std::vector<uint64_t> samples_ns;
    for (double ns : t.samples_ns) samples_ns.push_back(static_cast<uint64_t>(std::llround(ns)));
    j["samples_ns"] = samples_ns;
    j["samples_ts"] = ts;
    j["cpu_features"] = kernels::cpu_features_string();
    j["kernel_isa"] = std::string(kernels::to_string(kernels::selected_isa()));
    j["numerics"] = numerics;
    j["head_type"] = m.head_type;
    j["gpu_layers_offloaded"] = m.offload.gpu_layers;  // what runs on the GPU (0: none)
    if (t.bound) {  // tg tests: the memory-bandwidth bound (tools/bench_bound.hpp)
      j["bytes_per_token"] = t.bound->weight_bytes + t.bound->kv_bytes;
      j["kv_bytes_per_token"] = t.bound->kv_bytes;
      j["mem_read_gbs"] = t.bound->read_gbs;
      j["bound_ts"] = t.bound->tokens_per_second();
    }
    all.push_back(j);
  }
  std::printf("%s\n", all.dump(2).c_str());
}

// One value list of llama-bench's syntax: items separated by commas (or given by repeated flags),
// each N, first-last (step 1), first-last+step or first-last*factor. Throws Error(config).
std::vector<int> parse_values(const std::vector<std::string>& given, const char* flag, int min) {
  std::vector<int> values;
  auto fail = [&](const std::string& item, const std::string& why) {
    throw Error(ErrorCategory::config, std::string(flag) + ": '" + item + "' " + why +
                                           " (expected N, N,M,..., first-last, first-last+step or "
                                           "first-last*factor)");
  };
  auto number = [&](const std::string& item, const std::string& text) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) fail(item, "is not a number");
    if (v < min || v > 1 << 24) fail(item, "is out of range (minimum " + std::to_string(min) + ")");
    return static_cast<int>(v);
  };
  for (const auto& arg : given) {
    size_t pos = 0;
    while (pos <= arg.size()) {
      const size_t comma = arg.find(',', pos);
      const std::string item = arg.substr(pos, comma == std::string::npos ? comma : comma - pos);
      const size_t dash = item.find('-', 1);
      if (dash == std::string::npos) {
        values.push_back(number(item, item));
      } else {
        const size_t op = item.find_first_of("+*", dash);
        const int first = number(item, item.substr(0, dash));
        const int last =
            number(item, item.substr(dash + 1, op == std::string::npos ? op : op - dash - 1));
        const int step = op == std::string::npos ? 1 : number(item, item.substr(op + 1));
        const bool multiply = op != std::string::npos && item[op] == '*';
        if (last < first) fail(item, "is an empty range");
        if (multiply ? step < 2 || first < 1 : step < 1)
          fail(item, "has a step that never advances");
        for (long v = first; v <= last; v = multiply ? v * step : v + step)
          values.push_back(static_cast<int>(v));
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  if (values.empty()) throw Error(ErrorCategory::config, std::string(flag) + ": no value");
  return values;
}

void run_bench(const BenchOptions& o) {
  const auto n_prompts = parse_values(o.n_prompt, "-p", 0);
  const auto n_gens = parse_values(o.n_gen, "-n", 0);
  const auto depths = parse_values(o.n_depth, "-d", 0);
  const auto batches = parse_values(o.n_batch, "-b", 1);
  auto thread_counts = parse_values(o.threads, "-t", 0);
  for (int& t : thread_counts)
    if (t == 0) t = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  LoadOptions load;
  load.head_type = head_quant_type(o.head_type);
  load.n_gpu_layers = resolve_gpu_layers(o.gpu_layers);
  const auto model = Model::load(o.model, load);
  const ModelFacts facts = model_facts(*model, o.model);
  const int longest = std::max(*std::max_element(n_prompts.begin(), n_prompts.end()),
                               *std::max_element(n_gens.begin(), n_gens.end()));
  const int deepest = *std::max_element(depths.begin(), depths.end());
  std::vector<TestResult> tests;
  for (const int threads : thread_counts) {
    ContextOptions copt;
    copt.n_ctx = std::max(1, deepest + longest);
    copt.n_threads = threads;
    copt.numerics = o.fast_numerics ? Numerics::Fast : Numerics::Reference;
    copt.type_k = parse_kv_type(o.cache_types.k);
    copt.type_v = parse_kv_type(o.cache_types.v);
    Context ctx(model, copt);
    TokenSource src(ctx.n_vocab(), bos_id(*model));
    std::optional<double> read_gbs;  // measured once per thread count, before the first tg test
    // llama-bench's order: per parameter set, the pp tests, then the tg tests.
    for (const int n_batch : batches) {
      for (const int depth : depths) {
        for (const int p : n_prompts)
          if (p > 0) tests.push_back(run_test(ctx, src, p, 0, depth, n_batch, o.repetitions));
        for (const int n : n_gens) {
          if (n <= 0) continue;
          if (!read_gbs) read_gbs = measure_read_bandwidth(threads);
          tests.push_back(run_test(ctx, src, 0, n, depth, n_batch, o.repetitions));
          tests.back().bound = decode_bound(*model, copt.type_k, copt.type_v, depth, n, *read_gbs);
        }
      }
    }
  }
  if (o.json) {
    print_json(facts, o.poll, o.fast_numerics ? "fast" : "reference", o.cache_types, tests);
  } else {
    print_table(facts, tests);
    std::printf("numerics: %s%s\n",
                o.fast_numerics ? "fast (not the reference's bits)"
                                : "reference (bit-exact with the reference)",
                model->weights().output_quantized.empty()
                    ? ""
                    : ", except the output head (--head-type: quantized at load)");
    std::printf("offload: %s\n", facts.offload.describe().c_str());
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Prompt-processing and generation speed, as llama-bench");
  cmd->add_option("-m,--model", opt->model, "GGUF model")->required();
  cmd->add_option("-p,--n-prompt", opt->n_prompt,
                  "prompt tokens, in batches of -b (pp tests; 0 = skip); lists: 64,128 or 64-512*2")
      ->take_all();
  cmd->add_option("-n,--n-gen", opt->n_gen, "generated tokens, one per step (tg tests; 0 = skip)")
      ->take_all();
  cmd->add_option("-d,--n-depth", opt->n_depth,
                  "tokens already in the KV cache when each test starts (untimed; default 0)")
      ->take_all();
  cmd->add_option(
         "-b,--batch-size", opt->n_batch,
         "tokens per batch of a pp test (default 2048; above 512 the engine runs 512-token "
         "ubatches)")
      ->take_all();
  add_poll_option(*cmd)->each([opt](const std::string& v) { opt->poll = std::stoi(v); });
  cmd->add_option("-t,--threads", opt->threads, "threads (default 0: all hardware threads)")
      ->take_all();
  cmd->add_option("-r,--repetitions", opt->repetitions, "repetitions of each test (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opt->json, "print a JSON array (llama-bench's -o json field names)");
  cmd->add_flag("--fast-numerics", opt->fast_numerics,
                "fast numerics: TQ sums block by block, one-token roundings for every batch (not "
                "bit-exact with the reference; see docs/architecture.md)");
  add_head_type_option(*cmd, opt->head_type);
  add_kv_cache_options(*cmd, opt->cache_types);
  add_gpu_layers_option(*cmd, opt->gpu_layers);
  cmd->callback([opt] { run_bench(*opt); });
}

}  // namespace bitnet::tools
