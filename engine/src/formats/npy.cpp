// SPDX-License-Identifier: Apache-2.0
// The .npy parser. The header is a Python literal, not JSON: a dict of exactly 'descr' (a
// string), 'fortran_order' (True/False) and 'shape' (a tuple of ints). This file reads that
// small grammar and nothing more — anything else is refused with the position and the reason.
#include "onecopy/engine/formats/npy.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "onecopy/engine/layout.hpp"
#include "onecopy/error.hpp"

namespace onecopy::formats {
namespace {

static_assert(std::endian::native == std::endian::little, "onecopy assumes a little-endian host");

constexpr char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

struct header_fields {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<std::uint64_t>> shape;
};

// Reads the header dict. Positions in messages count from the dict's first byte.
class literal_reader {
 public:
  literal_reader(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  header_fields read() {
    header_fields h;
    expect('{');
    skip_space();
    while (peek() != '}') {
      const std::size_t key_at = pos_;
      const std::string key = string_value();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (h.descr) fail(key_at, "duplicate key 'descr'");
        if (peek() == '[')
          fail(pos_, "descr: a structured dtype (a list of fields) is not supported; save each "
                     "field as its own array");
        if (peek() == '{') fail(pos_, "descr: a dtype dict is not supported");
        h.descr = string_value();
      } else if (key == "fortran_order") {
        if (h.fortran_order) fail(key_at, "duplicate key 'fortran_order'");
        h.fortran_order = bool_value();
      } else if (key == "shape") {
        if (h.shape) fail(key_at, "duplicate key 'shape'");
        h.shape = tuple_value();
      } else {
        fail(key_at, fmt::format("unexpected key '{}' (a .npy header has descr, fortran_order, "
                                 "shape)", printable(key)));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail(pos_, "expected ',' or '}'");
      }
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) fail(pos_, "unexpected text after the header dict");
    return h;
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw format_error(fmt::format("{}: header: {} (at byte {} of the header dict)", source_, what, at));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(pos_, fmt::format("expected '{}'", c));
    ++pos_;
  }
  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
  }
  std::string string_value() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(pos_, "expected a quoted string");
    ++pos_;
    std::string s;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') ++pos_;  // \' \" \\: keep the next byte as is
      if (pos_ >= text_.size()) break;
      s += text_[pos_++];
    }
    if (pos_ >= text_.size()) fail(pos_, "unterminated string");
    ++pos_;
    return s;
  }
  bool bool_value() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail(pos_, "fortran_order: expected True or False");
  }
  std::uint64_t int_value() {
    skip_space();
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (v > (UINT64_MAX - digit) / 10) fail(start, "shape: dimension overflows 64 bits");
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) fail(pos_, "shape: expected a non-negative integer");
    if (peek() == 'L') ++pos_;  // Python 2 numpy wrote longs as "3L"
    return v;
  }
  std::vector<std::uint64_t> tuple_value() {
    expect('(');
    std::vector<std::uint64_t> dims;
    skip_space();
    while (peek() != ')') {
      if (dims.size() == max_rank)
        fail(pos_, fmt::format("shape: rank exceeds the maximum of {}", max_rank));
      dims.push_back(int_value());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != ')') {
        fail(pos_, "shape: expected ',' or ')'");
      }
    }
    ++pos_;
    return dims;
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

struct npy_type {
  char kind;
  unsigned size;
  dtype type;
};
constexpr std::array<npy_type, 14> npy_types{{
    {'b', 1, dtype::boolean}, {'i', 1, dtype::i8},  {'i', 2, dtype::i16}, {'i', 4, dtype::i32},
    {'i', 8, dtype::i64},     {'u', 1, dtype::u8},  {'u', 2, dtype::u16}, {'u', 4, dtype::u32},
    {'u', 8, dtype::u64},     {'f', 2, dtype::f16}, {'f', 4, dtype::f32}, {'f', 8, dtype::f64},
    {'c', 8, dtype::c64},     {'c', 16, dtype::c128},
}};

// '<f4' → f32, not swapped; '>i8' → i64, swapped. Says what each unsupported kind is.
std::pair<dtype, bool> decode_descr(const std::string& descr, std::string_view source) {
  auto bad = [&](const std::string& what) {
    return format_error(fmt::format("{}: descr: '{}' {}", source, descr.substr(0, 40), what));
  };
  if (descr.size() < 2) throw bad("is not a numpy type string like '<f4'");
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=')
    throw bad("has no byte order ('<', '>', '|' or '=')");
  const char kind = descr[1];
  const std::string_view rest = std::string_view(descr).substr(2);
  unsigned size = 0;
  bool digits = !rest.empty() && rest.size() <= 3;
  for (char c : rest) {
    if (c < '0' || c > '9') digits = false;
    if (digits) size = size * 10 + static_cast<unsigned>(c - '0');
  }
  switch (kind) {
    case 'O': throw bad("is an object array (pickled Python objects), not supported");
    case 'U': case 'S': case 'a': throw bad("is a string array, not supported");
    case 'V': throw bad("is a void/raw-bytes type, not supported (bfloat16 and float8 arrays from "
                        "ml_dtypes are saved this way: use safetensors for them)");
    case 'M': case 'm': throw bad("is a datetime/timedelta type, not supported");
    default: break;
  }
  if (!digits) throw bad("is not a numpy type string like '<f4'");
  if (kind == 'f' && size > 8) throw bad("is long double (platform-specific), not supported");
  if (kind == 'c' && size > 16) throw bad("is complex long double, not supported");
  for (const auto& t : npy_types) {
    if (t.kind != kind || t.size != size) continue;
    if (order == '|' && size > 1) throw bad("has no byte order ('|') but a multi-byte type");
    return {t.type, order == '>' && size > 1};
  }
  throw bad("is not a supported type (bool, int/uint 8-64, float 16/32/64, complex 64/128)");
}

}  // namespace

std::uint64_t npy_header_extent(std::span<const std::byte> first, std::uint64_t file_size,
                                std::string_view source) {
  const std::uint64_t have = std::min<std::uint64_t>(first.size(), file_size);
  if (have < sizeof magic || std::memcmp(first.data(), magic, sizeof magic) != 0)
    throw format_error(fmt::format("{}: magic: not a .npy file (expected \"\\x93NUMPY\")", source));
  if (have < 8) throw format_error(fmt::format("{}: version: the file ends after {} bytes", source, have));
  const auto major = static_cast<unsigned>(first[6]);
  const auto minor = static_cast<unsigned>(first[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    throw format_error(fmt::format("{}: version: {}.{} is not supported (1.0, 2.0, 3.0)", source, major, minor));
  const std::uint64_t length_size = major == 1 ? 2 : 4;
  if (have < 8 + length_size)
    throw format_error(fmt::format("{}: header length: the file ends after {} bytes", source, have));
  std::uint64_t n = 0;
  for (std::uint64_t i = length_size; i-- > 0;) n = (n << 8) | static_cast<std::uint8_t>(first[8 + i]);
  if (n > max_npy_header)
    throw format_error(fmt::format("{}: header length: {} bytes exceeds the limit of {}", source, n, max_npy_header));
  if (n > file_size - 8 - length_size)
    throw format_error(fmt::format("{}: header length: {} bytes, but only {} follow in the file "
                                   "(truncated?)", source, n, file_size - 8 - length_size));
  return 8 + length_size + n;
}

tensor_file parse_npy(std::span<const std::byte> head, std::uint64_t file_size, std::string_view source) {
  const std::uint64_t extent = npy_header_extent(head, file_size, source);
  if (head.size() < extent)
    throw usage_error(fmt::format("parse_npy({}): given {} bytes of a {}-byte header", source,
                                  head.size(), extent));
  const auto major = static_cast<unsigned>(head[6]);
  const std::uint64_t dict_at = major == 1 ? 10 : 12;
  const std::string_view text(reinterpret_cast<const char*>(head.data()) + dict_at,
                              static_cast<std::size_t>(extent - dict_at));
  const header_fields h = literal_reader(text, source).read();
  if (!h.descr) throw format_error(fmt::format("{}: descr: missing", source));
  if (!h.fortran_order) throw format_error(fmt::format("{}: fortran_order: missing", source));
  if (!h.shape) throw format_error(fmt::format("{}: shape: missing", source));
  const auto [type, swapped] = decode_descr(*h.descr, source);

  file_tensor t;
  t.type = type;
  t.shape = *h.shape;
  t.file_offset = extent;
  t.fortran_order = *h.fortran_order;
  t.byte_swapped = swapped;
  std::uint64_t bytes = dtype_size(type);
  for (auto d : t.shape) {
    if (d != 0 && bytes > UINT64_MAX / d)
      throw format_error(fmt::format("{}: shape: dtype × shape overflows 64 bits", source));
    bytes *= d;
  }
  t.size = bytes;
  const std::uint64_t data = file_size - extent;
  if (data != bytes)
    throw format_error(fmt::format("{}: data: {} bytes follow the header but '{}' × [{}] needs {} ({})",
                                   source, data, h.descr->substr(0, 40), fmt::join(t.shape, ", "),
                                   bytes, data < bytes ? "truncated?" : "trailing bytes"));
  tensor_file file;
  file.path = std::string(source);
  file.format = file_format::npy;
  file.version = fmt::format("{}.0", major);
  file.file_size = file_size;
  file.header_size = extent;
  file.tensors.push_back(std::move(t));
  return file;
}

}  // namespace onecopy::formats
