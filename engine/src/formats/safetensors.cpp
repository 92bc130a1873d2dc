// SPDX-License-Identifier: Apache-2.0
// The safetensors parser. The JSON is nlohmann::json's; this file only checks what it says:
// lengths before allocation, keys without duplicates, each tensor's fields, and that the
// tensors tile the data region exactly as the reference implementation requires.
#include "onecopy/engine/formats/safetensors.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/layout.hpp"
#include "onecopy/error.hpp"

namespace onecopy::formats {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t length_field = 8;
// Objects and arrays nest at most this deep in a header: top → tensor → shape. Deeper input is
// refused while parsing, before it can cost memory.
constexpr int max_depth = 3;

struct safetensors_type {
  std::string_view name;
  dtype type;
};
// The names the format defines (safetensors' Dtype enum, serialized upper-case).
constexpr std::array<safetensors_type, 19> types{{
    {"BOOL", dtype::boolean}, {"U8", dtype::u8},   {"I8", dtype::i8},     {"U16", dtype::u16},
    {"I16", dtype::i16},      {"U32", dtype::u32}, {"I32", dtype::i32},   {"U64", dtype::u64},
    {"I64", dtype::i64},      {"F16", dtype::f16}, {"BF16", dtype::bf16}, {"F32", dtype::f32},
    {"F64", dtype::f64},      {"C64", dtype::c64}, {"F8_E4M3", dtype::f8_e4m3},
    {"F8_E5M2", dtype::f8_e5m2}, {"F8_E8M0", dtype::f8_e8m0},
    {"F8_E4M3FNUZ", dtype::f8_e4m3fnuz}, {"F8_E5M2FNUZ", dtype::f8_e5m2fnuz},
}};

std::optional<dtype> type_of(std::string_view name) {
  for (const auto& t : types)
    if (t.name == name) return t.type;
  return std::nullopt;
}

std::string supported_types() {
  std::string s;
  for (const auto& t : types) {
    if (!s.empty()) s += ' ';
    s += t.name;
  }
  return s;
}

// A name as messages show it: quoted, control bytes as \xNN (a NUL would end what()), cut
// at 60 bytes.
std::string shown(std::string_view name) {
  std::string s;
  for (char c : name.substr(0, 60)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      s += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else
      s += c;
  }
  if (name.size() <= 60) return fmt::format("'{}'", s);
  return fmt::format("'{}…' ({} bytes)", s, name.size());
}

std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// A first, DOM-less pass over the header (SAX): refuses duplicate keys, which nlohmann's DOM
// would resolve silently (last wins), and nesting deeper than max_depth, before the DOM pass
// spends memory on it. (A parse callback could do both, but nlohmann 3.11's callback parser
// rescans the parent object at every object end: quadratic in the number of tensors.)
class header_checker {
 public:
  explicit header_checker(std::string_view source) : source_(source) {}

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) {
    open();
    keys_.emplace_back();
    return true;
  }
  bool key(json::string_t& key) {
    if (!keys_.back().insert(key).second)
      throw format_error(fmt::format("{}: header: duplicate key {}{}", source_, shown(key),
                                     keys_.size() == 1 ? " (two tensors of the same name)" : ""));
    return true;
  }
  bool end_object() {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    open();
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    // "[json.exception.parse_error.101] parse error at …": keep what follows the tag.
    std::string_view what = e.what();
    if (auto cut = what.find("] "); cut != std::string_view::npos) what.remove_prefix(cut + 2);
    throw format_error(fmt::format("{}: header: not valid JSON: {}", source_, what));
  }

 private:
  void open() {
    if (++depth_ > max_depth)
      throw format_error(fmt::format("{}: header: nested deeper than a safetensors header can be "
                                     "({} levels)", source_, max_depth));
  }
  std::string_view source_;
  int depth_ = 0;
  std::vector<std::set<std::string>> keys_;  // one set per open object
};

json parse_header(std::string_view text, std::string_view source) {
  header_checker checker(source);
  (void)json::sax_parse(text.begin(), text.end(), &checker);
  return json::parse(text.begin(), text.end());
}

struct parsed_tensor {
  file_tensor t;
  std::uint64_t begin = 0;  // data_offsets, relative to the data region
  std::uint64_t end = 0;
};

parsed_tensor parse_tensor(const std::string& name, const json& entry, std::uint64_t data_size,
                           std::string_view source) {
  const std::string label = fmt::format("{}: tensor {}", source, shown(name));
  auto bad = [&](std::string_view field, const std::string& what) {
    return format_error(fmt::format("{}: {}: {}", label, field, what));
  };
  if (name.empty()) throw bad("name", "empty (a segment's tensors need names)");
  if (name.size() > max_tensor_name)
    throw bad("name", fmt::format("{} bytes; at most {}", name.size(), max_tensor_name));
  if (name.find('\0') != std::string::npos) throw bad("name", "contains a NUL byte");
  if (!entry.is_object()) throw bad("entry", fmt::format("a JSON {}, not an object", entry.type_name()));

  parsed_tensor p;
  p.t.name = name;
  const auto dt = entry.find("dtype");
  if (dt == entry.end()) throw bad("dtype", "missing");
  if (!dt->is_string()) throw bad("dtype", fmt::format("a JSON {}, not a string", dt->type_name()));
  const auto& dtype_text = dt->get_ref<const std::string&>();
  const auto type = type_of(dtype_text);
  if (!type) {
    if (dtype_text == "F4" || dtype_text == "F6_E2M3" || dtype_text == "F6_E3M2")
      throw bad("dtype", fmt::format("{} packs several values per byte; sub-byte types are not "
                                     "supported", shown(dtype_text)));
    throw bad("dtype", fmt::format("{} is not a supported type ({})", shown(dtype_text), supported_types()));
  }
  p.t.type = *type;

  const auto shape = entry.find("shape");
  if (shape == entry.end()) throw bad("shape", "missing");
  if (!shape->is_array()) throw bad("shape", fmt::format("a JSON {}, not an array", shape->type_name()));
  if (shape->size() > max_rank)
    throw bad("shape", fmt::format("rank {} exceeds the maximum of {}", shape->size(), max_rank));
  std::uint64_t bytes = dtype_size(p.t.type);
  for (std::size_t i = 0; i < shape->size(); ++i) {
    const json& d = (*shape)[i];
    if (!d.is_number_unsigned())
      throw bad("shape", fmt::format("dimension {} is {}, not a non-negative integer", i, d.dump()));
    const auto v = d.get<std::uint64_t>();
    if (v != 0 && bytes > UINT64_MAX / v) throw bad("shape", "dtype × shape overflows 64 bits");
    bytes *= v;
    p.t.shape.push_back(v);
  }
  p.t.size = bytes;

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end()) throw bad("data_offsets", "missing");
  if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    throw bad("data_offsets", fmt::format("{} is not [begin, end] of two non-negative integers",
                                          offsets->dump().substr(0, 80)));
  p.begin = (*offsets)[0].get<std::uint64_t>();
  p.end = (*offsets)[1].get<std::uint64_t>();
  if (p.begin > p.end) throw bad("data_offsets", fmt::format("begin {} is after end {}", p.begin, p.end));
  if (p.end > data_size)
    throw bad("data_offsets", fmt::format("end {} is past the data region's {} bytes (truncated file?)",
                                          p.end, data_size));
  if (p.end - p.begin != p.t.size)
    throw bad("data_offsets", fmt::format("[{}, {}) holds {} bytes but {} × {} needs {}", p.begin,
                                          p.end, p.end - p.begin, dtype_text, shape->dump(), p.t.size));
  return p;
}

}  // namespace

std::uint64_t safetensors_header_extent(std::span<const std::byte> first, std::uint64_t file_size,
                                        std::string_view source) {
  if (file_size < length_field || first.size() < length_field)
    throw format_error(fmt::format("{}: header length: the file has {} bytes, fewer than the 8 of "
                                   "the header length (not a safetensors file?)", source, file_size));
  const std::uint64_t n = load_le64(first.data());
  if (n > max_safetensors_header)
    throw format_error(fmt::format("{}: header length: {} bytes exceeds the limit of {} bytes "
                                   "(100 MB; not a safetensors file?)", source, n, max_safetensors_header));
  if (n > file_size - length_field)
    throw format_error(fmt::format("{}: header length: {} bytes, but only {} follow in the file "
                                   "(truncated?)", source, n, file_size - length_field));
  if (n < 2) throw format_error(fmt::format("{}: header length: {} bytes is too short for a JSON object", source, n));
  return length_field + n;
}

tensor_file parse_safetensors(std::span<const std::byte> head, std::uint64_t file_size,
                              std::string_view source) {
  const std::uint64_t extent = safetensors_header_extent(head, file_size, source);
  if (head.size() < extent)
    throw usage_error(fmt::format("parse_safetensors({}): given {} bytes of a {}-byte header",
                                  source, head.size(), extent));
  const std::string_view text(reinterpret_cast<const char*>(head.data()) + length_field,
                              static_cast<std::size_t>(extent - length_field));
  if (text.front() != '{')
    throw format_error(fmt::format("{}: header: starts with byte 0x{:02x}, not '{{' (not a "
                                   "safetensors file?)", source, static_cast<unsigned char>(text.front())));
  const json header = parse_header(text, source);
  if (!header.is_object())
    throw format_error(fmt::format("{}: header: a JSON {}, not an object", source, header.type_name()));

  tensor_file file;
  file.path = std::string(source);
  file.format = file_format::safetensors;
  file.file_size = file_size;
  file.header_size = extent;
  const std::uint64_t data_size = file_size - extent;
  std::vector<parsed_tensor> parsed;
  parsed.reserve(header.size());
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object())
        throw format_error(fmt::format("{}: __metadata__: a JSON {}, not an object of strings",
                                       source, value.type_name()));
      for (const auto& [k, v] : value.items())
        if (!v.is_string())
          throw format_error(fmt::format("{}: __metadata__: value of {} is a JSON {}, not a string",
                                         source, shown(k), v.type_name()));
      file.metadata = value.dump();
      continue;
    }
    parsed.push_back(parse_tensor(key, value, data_size, source));
  }

  // The tensors must tile [0, data_size): sorted by offset, each starts where the last ended.
  std::sort(parsed.begin(), parsed.end(), [](const parsed_tensor& a, const parsed_tensor& b) {
    return std::tie(a.begin, a.end, a.t.name) < std::tie(b.begin, b.end, b.t.name);
  });
  std::uint64_t expected = 0;
  const parsed_tensor* previous = nullptr;
  for (const auto& p : parsed) {
    const std::string label = fmt::format("{}: tensor {}: data_offsets", source, shown(p.t.name));
    if (p.begin < expected)
      throw format_error(fmt::format("{}: [{}, {}) overlaps tensor {} at [{}, {})", label, p.begin,
                                     p.end, shown(previous->t.name), previous->begin, previous->end));
    if (p.begin > expected)
      throw format_error(fmt::format("{}: [{}, {}) leaves bytes [{}, {}) of the data region unused{}",
                                     label, p.begin, p.end, expected, p.begin,
                                     previous ? fmt::format(" after tensor {}", shown(previous->t.name))
                                              : std::string(" at its start")));
    expected = p.end;
    if (p.end > p.begin) previous = &p;
  }
  if (expected != data_size)
    throw format_error(fmt::format("{}: data region: {} bytes, but the tensors end at {} ({} bytes "
                                   "after the last tensor belong to none)", source, data_size,
                                   expected, data_size - expected));
  file.tensors.reserve(parsed.size());
  for (auto& p : parsed) {
    p.t.file_offset = extent + p.begin;
    file.tensors.push_back(std::move(p.t));
  }
  return file;
}

}  // namespace onecopy::formats
