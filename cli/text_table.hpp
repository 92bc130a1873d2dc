// SPDX-License-Identifier: Apache-2.0
// Plain-text tables and word wrapping for terminal output that must fit 100 columns: columns
// sized to their widest cell, the last column wrapped onto continuation lines.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace onecopy::cli {

/// Columns of a terminal this output is laid out for.
inline constexpr std::size_t text_width = 100;

/// Display width of UTF-8 text (code points; onecopy prints no wide characters).
[[nodiscard]] std::size_t display_width(std::string_view s) noexcept;

/// Breaks text at spaces (or after commas inside a longer word) into a first line of at most
/// first_width columns and further lines of at most next_width; the caller adds any indent.
[[nodiscard]] std::vector<std::string> wrap(std::string_view text, std::size_t first_width,
                                            std::size_t next_width);
/// wrap() with the first line prefixed by `first` and the others by `next` (both counted
/// in width); returns the lines joined, each ending in a newline.
[[nodiscard]] std::string wrap_lines(std::string_view text, std::string_view first, std::string_view next,
                                     std::size_t width = text_width);

/// A table: a header row, then rows; columns two spaces apart; cells of right-aligned columns
/// padded on the left. The last column wraps to fit the width.
class text_table {
 public:
  text_table(std::vector<std::string> headers, std::vector<bool> right_aligned = {});
  void add(std::vector<std::string> row);
  [[nodiscard]] std::string render(std::size_t width = text_width, std::string_view indent = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace onecopy::cli
