// The chat page served at GET / (src/server/webui/index.html, compiled in by
// cmake/EmbedWebui.cmake): one self-contained HTML file, no external requests.
#pragma once

#include <string_view>

namespace bitnet::server {

std::string_view webui_page();

}  // namespace bitnet::server
