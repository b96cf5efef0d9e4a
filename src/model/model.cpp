#include "model/model.hpp"

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace bitnet {

Model::Model(gguf::GgufFile file) : file_(std::move(file)), config_(read_model_config(file_)) {}

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  if (options.progress) options.progress(0.0f);
  std::shared_ptr<Model> model(new Model(gguf::GgufFile::open(path)));
  // Quantizing the head takes most of the load time when asked for: binding reports the first
  // quarter then.
  const float bind_share = options.head_type ? 0.25f : 1.0f;
  std::function<void(float)> bind_progress;
  if (options.progress) {
    bind_progress = [&](float f) { options.progress(f * bind_share); };
  }
  model->weights_ = bind_weights(model->file_, model->config_, bind_progress);
  if (options.head_type) {
    std::function<void(float)> head_progress;
    if (options.progress) {
      head_progress = [&](float f) { options.progress(bind_share + f * (1.0f - bind_share)); };
    }
    quantize_output_head(model->weights_, *options.head_type, model->file_.mapping_or_null(),
                         head_progress);
  }
  int64_t tensor_bytes = 0;
  for (const auto& t : model->file_.tensors()) tensor_bytes += t.nbytes;
  const int n_layer = static_cast<int>(model->config_.n_layer);
  // Asking the CUDA runtime creates a device context: only when layers are to be offloaded.
  const GpuInventory gpus = options.n_gpu_layers != 0 ? gpu_inventory() : GpuInventory{};
  model->offload_ = plan_offload(options.n_gpu_layers, n_layer,
                                 n_layer > 0 ? tensor_bytes / n_layer : 0, gpus);
  if (!model->offload_.fallback.empty())
    std::fprintf(stderr, "%s\n", model->offload_.fallback.c_str());
  if (const char* spec = std::getenv("BITNET_TEST_PERTURB"); spec && *spec) {
    model->apply_test_perturbation(spec);  // TEST ONLY
  }
  if (options.progress) options.progress(1.0f);
  return model;
}

}  // namespace bitnet
