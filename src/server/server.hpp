// `bitnet serve`: binds the port, loads the model (GET /health answers 503 meanwhile), serves the
// OpenAI-compatible API until SIGTERM/SIGINT, then drains: no new requests, /health 503, running
// and queued requests finish (up to --shutdown-timeout), exit 0.
#pragma once

#include "server/server_options.hpp"

namespace bitnet::server {

// Returns the process exit code (0 after a drained shutdown, 1 when it cannot start).
int run_server(const ServerOptions& options);

}  // namespace bitnet::server
