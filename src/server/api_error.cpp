#include "server/api_error.hpp"

namespace bitnet::server {

std::string ApiError::type() const {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 503:
      return "unavailable_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::json ApiError::body() const {
  nlohmann::json error = {{"message", what()}, {"type", type()}};
  error["param"] = param.empty() ? nlohmann::json() : nlohmann::json(param);
  error["code"] = code.empty() ? nlohmann::json() : nlohmann::json(code);
  return {{"error", error}};
}

void bad_field(const std::string& field, const std::string& what) {
  throw ApiError(400, "'" + field + "' " + what, field, "invalid_value");
}

}  // namespace bitnet::server
