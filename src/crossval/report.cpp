#include "crossval/report.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace bitnet::crossval {
namespace {

using Json = nlohmann::ordered_json;

std::string piece_of(const Backend& a, const Backend& b, int32_t id) {
  if (auto p = a.token_piece(id)) return *p;
  if (auto p = b.token_piece(id)) return *p;
  return "<" + std::to_string(id) + ">";
}

// The bytes as a JSON string: invalid UTF-8 (a token that splits a character) becomes U+FFFD.
Json json_text(const std::string& bytes) {
  return Json::parse(Json(bytes).dump(-1, ' ', false, Json::error_handler_t::replace));
}

Json number_or_null(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

std::string side_settings(const Backend& side, bool add_bos) {
  const auto s = side.tokenize_settings(add_bos);
  return std::string("add_bos=") + (s.add_bos ? "true" : "false") +
         " parse_special=" + (s.parse_special ? "true" : "false") + " tokenizer=" + s.source;
}

Json side_json(const Backend& side, bool add_bos, const std::vector<int32_t>& tokens,
               double load_s) {
  const auto s = side.tokenize_settings(add_bos);
  Json j;
  j["name"] = side.name();
  j["add_bos"] = s.add_bos;
  j["parse_special"] = s.parse_special;
  j["tokenizer"] = s.source;
  j["tokens"] = tokens;
  j["load_s"] = load_s;
  return j;
}

// Pads to `width` terminal columns, counting UTF-8 code points rather than bytes.
std::string pad_right(const std::string& s, size_t width) {
  size_t columns = 0;
  for (char c : s) columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return columns >= width ? s : s + std::string(width - columns, ' ');
}

Json top_json(const Backend& a, const Backend& b, const std::vector<TopLogit>& top) {
  Json list = Json::array();
  for (const auto& t : top) {
    Json e;
    e["id"] = t.id;
    e["logit"] = number_or_null(t.logit);
    e["piece"] = json_text(piece_of(a, b, t.id));
    list.push_back(e);
  }
  return list;
}

}  // namespace

int exit_code(const PerTokenResult& r) {
  if (r.mismatch) return 2;
  return r.first_divergent ? 1 : 0;
}

std::string printable_piece(const std::string& bytes, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  size_t i = 0;
  for (; i < bytes.size() && chars < max_chars; ++chars) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      // Copy one whole UTF-8 sequence (or one stray byte).
      size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
      len = std::min(len, bytes.size() - i);
      out.append(bytes, i, len);
      i += len;
      continue;
    }
    ++i;
  }
  if (i < bytes.size()) out += "…";
  return out;
}

std::string describe_mismatch(const Backend& a, const Backend& b, const ReportSettings& s,
                              const PerTokenResult& r) {
  const auto& m = *r.mismatch;
  auto show = [&](const std::optional<int32_t>& id) {
    if (!id) return std::string("(end of tokens)");
    return std::to_string(*id) + " '" + printable_piece(piece_of(a, b, *id), 40) + "'";
  };
  std::string out = "token mismatch at index " + std::to_string(m.index) + ": A (" + a.name() +
                    ") has " + show(m.id_a) + ", B (" + b.name() + ") has " + show(m.id_b) + "\n";
  out += "  A: " + std::to_string(r.tokens_a.size()) + " tokens, " + side_settings(a, s.add_bos) +
         ", template=" + s.chat_template + "\n";
  out += "  B: " + std::to_string(r.tokens_b.size()) + " tokens, " + side_settings(b, s.add_bos) +
         "\n";
  return out;
}

void write_text_report(std::FILE* out, const Backend& a, const Backend& b, const ReportSettings& s,
                       const PerTokenResult& r) {
  std::fprintf(out, "A: %s   B: %s\n", a.name().c_str(), b.name().c_str());
  if (r.mismatch) {
    std::fputs(describe_mismatch(a, b, s, r).c_str(), out);
    std::fprintf(out, "load: A %.3f s, B %.3f s\n", s.load_a_s, s.load_b_s);
    return;
  }
  std::fprintf(out, "%zu prompt tokens (%s), %zu generated (%s), cos-tol %g\n", r.tokens_a.size(),
               s.add_bos ? "BOS" : "no BOS", r.continuation.size(),
               r.continuation_recorded ? "B's recorded continuation" : "greedy by A", s.cos_tol);
  std::fprintf(out, "%5s  %-16s %10s %11s %11s %11s %5s %8s %8s\n", "pos", "token", "cosine", "l2",
               "max|diff|", "KL(B||A)", "top5", "argmaxA", "argmaxB");
  for (const auto& p : r.positions) {
    const std::string piece =
        pad_right("'" + printable_piece(piece_of(a, b, p.token), 12) + "'", 16);
    const char* mark =
        p.divergent ? (r.first_divergent == p.index ? " <-- first divergence" : " *") : "";
    if (p.metrics) {
      const auto& m = *p.metrics;
      std::fprintf(out, "%4lld%s  %s %10.6f %11.4e %11.4e %11.4e %5d %8d %8d%s\n",
                   static_cast<long long>(p.index), p.generated ? "g" : " ", piece.c_str(),
                   m.cosine, m.l2, m.max_abs_diff, m.kl, m.top5_overlap, m.argmax_a, m.argmax_b,
                   mark);
    } else {
      std::string expected = p.expected_next ? std::to_string(*p.expected_next) : "-";
      std::fprintf(out, "%4lld%s  %s %10s %11s %11s %11s %5s %8d %8s%s\n",
                   static_cast<long long>(p.index), p.generated ? "g" : " ", piece.c_str(), "-",
                   "-", "-", "-", "-", p.argmax_a, expected.c_str(), mark);
    }
  }
  if (r.first_divergent) {
    const auto& p = r.positions[static_cast<size_t>(*r.first_divergent)];
    if (p.metrics) {
      std::fprintf(out, "first divergent position: %lld (cosine %.6f < %g)\n",
                   static_cast<long long>(p.index), p.metrics->cosine, s.cos_tol);
    } else {
      std::fprintf(out, "first divergent position: %lld (A's next token %d, B recorded %d)\n",
                   static_cast<long long>(p.index), p.argmax_a, p.expected_next.value_or(-1));
    }
  } else {
    std::fprintf(out, "all %zu positions within tolerance\n", r.positions.size());
  }
  std::fprintf(out, "load: A %.3f s, B %.3f s; eval: A %.3f s, B %.3f s\n", s.load_a_s, s.load_b_s,
               r.eval_a_s, r.eval_b_s);
}

std::string json_report(const Backend& a, const Backend& b, const ReportSettings& s,
                        const PerTokenResult& r) {
  Json j;
  j["schema"] = "bitnet-crossval-per-token/1";
  const int code = exit_code(r);
  j["status"] = code == 0 ? "ok" : code == 1 ? "divergent" : "token_mismatch";
  j["exit_code"] = code;
  Json settings;
  settings["model"] = s.model;
  settings["tokenizer"] = s.tokenizer.empty() ? Json(nullptr) : Json(s.tokenizer);
  settings["prompt"] = json_text(s.prompt);
  settings["template"] = s.chat_template;
  settings["add_bos"] = s.add_bos;
  settings["max_tokens"] = s.max_tokens;
  settings["cos_tol"] = s.cos_tol;
  settings["threads"] = s.threads;
  settings["gpu_layers"] = s.gpu_layers;
  settings["a"] = a.name();
  settings["b"] = b.name();
  j["settings"] = settings;
  j["side_a"] = side_json(a, s.add_bos, r.tokens_a, s.load_a_s);
  j["side_b"] = side_json(b, s.add_bos, r.tokens_b, s.load_b_s);
  if (r.mismatch) {
    Json m;
    m["index"] = r.mismatch->index;
    m["id_a"] = r.mismatch->id_a ? Json(*r.mismatch->id_a) : Json(nullptr);
    m["id_b"] = r.mismatch->id_b ? Json(*r.mismatch->id_b) : Json(nullptr);
    m["piece_a"] = r.mismatch->id_a ? json_text(piece_of(a, b, *r.mismatch->id_a)) : Json(nullptr);
    m["piece_b"] = r.mismatch->id_b ? json_text(piece_of(b, a, *r.mismatch->id_b)) : Json(nullptr);
    j["token_mismatch"] = m;
  } else {
    j["token_mismatch"] = nullptr;
  }
  j["n_prompt"] = r.mismatch ? 0 : r.tokens_a.size();
  j["generated_tokens"] = r.continuation;
  j["continuation_recorded"] = r.continuation_recorded;
  Json positions = Json::array();
  for (const auto& p : r.positions) {
    Json row;
    row["index"] = p.index;
    row["token"] = p.token;
    row["piece"] = json_text(piece_of(a, b, p.token));
    row["generated"] = p.generated;
    const bool m = p.metrics.has_value();
    row["cosine"] = m ? number_or_null(p.metrics->cosine) : Json(nullptr);
    row["l2"] = m ? number_or_null(p.metrics->l2) : Json(nullptr);
    row["max_abs_diff"] = m ? number_or_null(p.metrics->max_abs_diff) : Json(nullptr);
    row["kl"] = m ? number_or_null(p.metrics->kl) : Json(nullptr);
    row["top5_overlap"] = m ? Json(p.metrics->top5_overlap) : Json(nullptr);
    row["argmax_a"] = p.argmax_a;
    row["argmax_b"] = m ? Json(p.metrics->argmax_b) : Json(nullptr);
    row["expected_token"] = p.expected_next ? Json(*p.expected_next) : Json(nullptr);
    row["argmax_agree"] = m                 ? Json(p.metrics->argmax_a == p.metrics->argmax_b)
                          : p.expected_next ? Json(p.argmax_a == *p.expected_next)
                                            : Json(nullptr);
    row["divergent"] = p.divergent;
    row["top5_a"] = m ? top_json(a, b, p.metrics->top5_a) : Json(nullptr);
    row["top5_b"] = m ? top_json(b, a, p.metrics->top5_b) : Json(nullptr);
    positions.push_back(row);
  }
  j["positions"] = positions;
  j["first_divergent_position"] = r.first_divergent ? Json(*r.first_divergent) : Json(nullptr);
  Json timing;
  timing["load_a_s"] = s.load_a_s;
  timing["load_b_s"] = s.load_b_s;
  timing["eval_a_s"] = r.eval_a_s;
  timing["eval_b_s"] = r.eval_b_s;
  j["timing"] = timing;
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace bitnet::crossval
