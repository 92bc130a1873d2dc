// SPDX-License-Identifier: Apache-2.0
#include "text_table.hpp"

#include <algorithm>

namespace onecopy::cli {

std::size_t display_width(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

namespace {
// Splits a too-long word after each comma so cpulists like "0-3,8-11,…" wrap cleanly; wrap()
// packs the pieces back together as far as they fit.
std::vector<std::string> pieces_of(std::string_view word) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : word) {
    cur += c;
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}
}  // namespace

std::vector<std::string> wrap(std::string_view text, std::size_t first_width, std::size_t next_width) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t pos = 0;
  auto limit = [&] { return std::max<std::size_t>(1, lines.empty() ? first_width : next_width); };
  while (pos < text.size()) {
    auto space = text.find(' ', pos);
    if (space == std::string_view::npos) space = text.size();
    const std::string_view word = text.substr(pos, space - pos);
    pos = space + 1;
    const auto parts = display_width(word) > limit() ? pieces_of(word)
                                                     : std::vector<std::string>{std::string(word)};
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const bool glued = i > 0;  // the rest of one word: no space before it
      const std::size_t gap = line.empty() || glued ? 0 : 1;
      if (!line.empty() && display_width(line) + gap + display_width(parts[i]) > limit()) {
        lines.push_back(std::move(line));
        line.clear();
      }
      if (!line.empty() && !glued) line += ' ';
      line += parts[i];
    }
  }
  if (!line.empty() || lines.empty()) lines.push_back(std::move(line));
  return lines;
}

std::string wrap_lines(std::string_view text, std::string_view first, std::string_view next, std::size_t width) {
  const std::size_t a = display_width(first), b = display_width(next);
  const auto lines = wrap(text, width > a ? width - a : 1, width > b ? width - b : 1);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) out += std::string(i == 0 ? first : next) + lines[i] + '\n';
  return out;
}

text_table::text_table(std::vector<std::string> headers, std::vector<bool> right_aligned)
    : headers_(std::move(headers)), right_(std::move(right_aligned)) {
  right_.resize(headers_.size(), false);
}

void text_table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string text_table::render(std::size_t width, std::string_view indent) const {
  const std::size_t cols = headers_.size();
  std::vector<std::size_t> w(cols, 0);
  for (std::size_t c = 0; c + 1 < cols; ++c) {
    w[c] = display_width(headers_[c]);
    for (const auto& r : rows_) w[c] = std::max(w[c], display_width(r[c]));
  }
  std::size_t lead = display_width(indent);
  for (std::size_t c = 0; c + 1 < cols; ++c) lead += w[c] + 2;
  const std::size_t last = width > lead + 10 ? width - lead : 10;
  std::string out;
  auto emit = [&](const std::vector<std::string>& r) {
    std::string line(indent);
    for (std::size_t c = 0; c + 1 < cols; ++c) {
      const std::string pad(w[c] - display_width(r[c]), ' ');
      line += right_[c] ? pad + r[c] : r[c] + pad;
      line += "  ";
    }
    const auto parts = wrap(r[cols - 1], last, last);
    line += parts.front();
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
    for (std::size_t i = 1; i < parts.size(); ++i) out += std::string(lead, ' ') + parts[i] + '\n';
  };
  emit(headers_);
  for (const auto& r : rows_) emit(r);
  return out;
}

}  // namespace onecopy::cli
