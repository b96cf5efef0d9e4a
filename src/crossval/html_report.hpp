// crossval-per-token --html: the report as one self-contained page (report/html_page.hpp), drawn
// from the JSON document (docs/schemas/crossval-per-token.schema.json) that it also embeds.
#pragma once

#include <string>

namespace bitnet::crossval {

// `json_text` is json_report()'s output; the page embeds it byte for byte. Throws
// nlohmann::json errors only on a malformed document.
std::string html_report(const std::string& json_text);

}  // namespace bitnet::crossval
