# Writes OUTPUT, a C++ file defining bitnet::server::webui_page() as the bytes of INPUT. A raw
# string literal is not used: the page may contain any character sequence.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/EmbedWebui.cmake; do not edit.\n"
  "#include <string_view>\nnamespace bitnet::server {\nnamespace {\n"
  "const unsigned char kPage[] = {${bytes} 0};\n}  // namespace\n"
  "std::string_view webui_page() {\n"
  "  return {reinterpret_cast<const char*>(kPage), ${byte_count}};\n}\n}  // namespace bitnet::server\n")
