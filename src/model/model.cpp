#include "model/model.hpp"

#include <cstdlib>
#include <utility>

namespace bitnet {

Model::Model(gguf::GgufFile file) : file_(std::move(file)), config_(read_model_config(file_)) {}

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  if (options.progress) options.progress(0.0f);
  std::shared_ptr<Model> model(new Model(gguf::GgufFile::open(path)));
  model->weights_ = bind_weights(model->file_, model->config_, options.progress);
  if (const char* spec = std::getenv("BITNET_TEST_PERTURB"); spec && *spec) {
    model->apply_test_perturbation(spec);  // TEST ONLY
  }
  if (options.progress) options.progress(1.0f);
  return model;
}

}  // namespace bitnet
