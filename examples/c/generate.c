/*
 * A C program using libbitnet: load a model, then stream a greedy continuation of a prompt and
 * score it with the session ABI.
 *
 * Build against the installed package:
 *   cmake -S examples/c -B build-example -DCMAKE_PREFIX_PATH=<prefix> && cmake --build
 * build-example or with pkg-config: cc -std=c99 generate.c $(pkg-config --cflags --libs bitnet) -o
 * generate Run: ./generate MODEL.gguf ["prompt"] [n_tokens]
 */
#include <bitnet/bitnet.h>
#include <bitnet/crossval_session.h>
#include <stdio.h>
#include <stdlib.h>

static bool print_piece(bitnet_token token, const char* piece, int32_t piece_len, void* user_data) {
  (void)token;
  (void)user_data;
  fwrite(piece, 1, (size_t)piece_len, stdout);
  fflush(stdout);
  return true; /* return false to stop the generation */
}

int main(int argc, char** argv) {
  const char* path;
  const char* prompt = "The quick brown fox";
  bitnet_model* model = NULL;
  bitnet_context* ctx = NULL;
  bitnet_context_params cparams = bitnet_context_default_params();
  bitnet_generate_params gparams = bitnet_generate_default_params();
  bitnet_generate_result result;
  void* session = NULL;
  char err[256];
  int32_t vocab = 0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [prompt] [n_tokens]\n", argv[0]);
    return 2;
  }
  path = argv[1];
  if (argc > 2) prompt = argv[2];
  gparams.max_new_tokens = argc > 3 ? atoi(argv[3]) : 16;
  gparams.sampling.temperature = 0.0f; /* greedy */
  gparams.on_token = print_piece;

  printf("%s\n", bitnet_build_info());
  if (bitnet_model_load(path, NULL, &model) != BITNET_OK) {
    fprintf(stderr, "error: %s\n", bitnet_last_error());
    return 1;
  }
  printf("model: %s, %s weights, %d layers, vocab %d\n", bitnet_model_arch(model),
         bitnet_model_weight_type(model), (int)bitnet_model_n_layer(model),
         (int)bitnet_model_n_vocab(model));

  cparams.n_ctx = 256;
  if (bitnet_context_create(model, &cparams, &ctx) != BITNET_OK) {
    fprintf(stderr, "error: %s\n", bitnet_last_error());
    bitnet_model_free(model);
    return 1;
  }
  printf("%s", prompt);
  if (bitnet_generate(ctx, prompt, &gparams, &result) != BITNET_OK) {
    fprintf(stderr, "\nerror: %s\n", bitnet_last_error());
  } else {
    printf("\n[%d prompt tokens, %d generated]\n", (int)result.n_prompt_tokens,
           (int)result.n_generated);
  }
  bitnet_context_free(ctx);
  bitnet_model_free(model);

  /* The session ABI: the same model behind an opaque handle with error codes. */
  if (crossval_bitnet_open(path, 128, &session, err, (int32_t)sizeof err) != 0) {
    fprintf(stderr, "session: %s\n", err);
    return 1;
  }
  crossval_bitnet_vocab_size(session, &vocab);
  printf("session: vocab %d\n", (int)vocab);
  crossval_bitnet_close(session);
  return result.n_generated > 0 ? 0 : 1;
}
