// An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace bitnet::server {

struct ApiError : std::runtime_error {
  ApiError(int http_status, const std::string& message, std::string field = {},
           std::string error_code = {})
      : std::runtime_error(message),
        status(http_status),
        param(std::move(field)),
        code(std::move(error_code)) {}

  int status;         // HTTP status
  std::string param;  // the request field at fault, if any
  std::string code;   // OpenAI's machine-readable code (e.g. context_length_exceeded)

  // invalid_request_error, authentication_error, not_found_error, ... as OpenAI names them.
  std::string type() const;
  nlohmann::json body() const;
};

// 400 naming the field: "`temperature` must be a number".
[[noreturn]] void bad_field(const std::string& field, const std::string& what);

}  // namespace bitnet::server
