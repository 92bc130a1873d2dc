// SPDX-License-Identifier: Apache-2.0
// Tensor files → one segment: resolving inputs (files, model directories, shard indexes),
// cross-file checks, the bundle layout, and the parallel fill.
#include "onecopy/engine/formats/load.hpp"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../internals.hpp"
#include "../parallel_read.hpp"
#include "model_files.hpp"
#include "onecopy/engine/formats/safetensors.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::formats {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::string_view index_suffix = ".safetensors.index.json";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A shard index: which shard file holds each tensor.
struct shard_index {
  fs::path path;
  std::map<std::string, std::string> weight_map;  // tensor → shard file name
};

// What the inputs name, before any file is parsed.
struct resolved_inputs {
  std::vector<fs::path> files;
  std::vector<shard_index> indexes;
  std::vector<fs::path> dirs;  // directory inputs (their small files may be kept)
  bool single_file = false;  // exactly one input, and it is a file
};

fs::file_status status_of(const fs::path& p) {
  std::error_code ec;
  auto st = fs::status(p, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw os_error(ec.value(), fmt::format("stat({})", p.string()));
  return st;
}

shard_index read_index(const fs::path& path, std::vector<fs::path>& files, std::vector<std::string>& notes) {
  const auto st = sys::lstat_if_exists(path);
  if (!st) throw os_error(ENOENT, fmt::format("open({})", path.string()));
  if (st->size > max_safetensors_header)
    throw format_error(fmt::format("{}: {} bytes is too large for a shard index", path.string(), st->size));
  json j;
  try {
    j = json::parse(sys::read_text(path));
  } catch (const json::parse_error& e) {
    std::string_view what = e.what();
    if (auto cut = what.find("] "); cut != std::string_view::npos) what.remove_prefix(cut + 2);
    throw format_error(fmt::format("{}: not valid JSON: {}", path.string(), what));
  }
  const auto wm = j.is_object() ? j.find("weight_map") : j.end();
  if (!j.is_object() || wm == j.end() || !wm->is_object())
    throw format_error(fmt::format("{}: weight_map: missing or not an object (is this a "
                                   "*.safetensors.index.json?)", path.string()));
  shard_index index{path, {}};
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : wm->items()) {
    if (!shard.is_string())
      throw format_error(fmt::format("{}: weight_map: tensor '{}': a JSON {}, not a file name",
                                     path.string(), tensor, shard.type_name()));
    const auto& file = shard.get_ref<const std::string&>();
    // Shards live next to the index: a plain name, never a path that could leave the directory.
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
        file.find('\0') != std::string::npos)
      throw format_error(fmt::format("{}: weight_map: tensor '{}': shard '{}' is not a plain file "
                                     "name in the index's directory", path.string(), tensor, file));
    index.weight_map.emplace(tensor, file);
    shards.insert(file);
  }
  if (shards.empty()) throw format_error(fmt::format("{}: weight_map: empty", path.string()));
  for (const auto& s : shards) files.push_back(path.parent_path() / s);
  notes.push_back(fmt::format("{}: {} tensors in {} shards", path.string(), index.weight_map.size(), shards.size()));
  return index;
}

std::vector<fs::path> list_dir(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw os_error(ec.value(), fmt::format("opendir({})", dir.string()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw os_error(ec.value(), fmt::format("readdir({})", dir.string()));
    std::error_code ec2;
    if (it->is_regular_file(ec2)) out.push_back(it->path());
  }
  if (ec) throw os_error(ec.value(), fmt::format("readdir({})", dir.string()));
  std::sort(out.begin(), out.end());
  return out;
}

void resolve_dir(const fs::path& dir, resolved_inputs& r, std::vector<std::string>& notes) {
  const auto entries = list_dir(dir);
  std::vector<fs::path> indexes, safetensors, npys;
  for (const auto& p : entries) {
    const std::string name = p.filename().string();
    if (ends_with(name, index_suffix)) indexes.push_back(p);
    else if (p.extension() == ".safetensors") safetensors.push_back(p);
    else if (p.extension() == ".npy") npys.push_back(p);
  }
  if (!indexes.empty()) {
    fs::path chosen;
    for (const auto& p : indexes)
      if (p.filename() == "model.safetensors.index.json") chosen = p;
    if (chosen.empty() && indexes.size() > 1)
      throw usage_error(fmt::format("{} has {} shard indexes ({}, {}, …): give the one to load",
                                    dir.string(), indexes.size(), indexes[0].filename().string(),
                                    indexes[1].filename().string()));
    if (chosen.empty()) chosen = indexes.front();
    r.indexes.push_back(read_index(chosen, r.files, notes));
    return;
  }
  if (!safetensors.empty()) {
    notes.push_back(fmt::format("{}: {} .safetensors files (no *{} found), in name order",
                                dir.string(), safetensors.size(), index_suffix));
    r.files.insert(r.files.end(), safetensors.begin(), safetensors.end());
    return;
  }
  if (!npys.empty()) {
    notes.push_back(fmt::format("{}: {} .npy files, in name order, each a tensor named by its file's "
                                "stem", dir.string(), npys.size()));
    r.files.insert(r.files.end(), npys.begin(), npys.end());
    return;
  }
  throw usage_error(fmt::format("{} has no .safetensors, *{} or .npy files", dir.string(), index_suffix));
}

resolved_inputs resolve(const std::vector<fs::path>& inputs, std::vector<std::string>& notes) {
  if (inputs.empty()) throw usage_error("no input files: give a .safetensors or .npy file, a directory or an index");
  resolved_inputs r;
  for (const auto& in : inputs) {
    const auto st = status_of(in);
    if (fs::is_directory(st)) {
      resolve_dir(in, r, notes);
      r.dirs.push_back(in);
    } else if (!fs::exists(st)) {
      throw os_error(ENOENT, fmt::format("input {}", in.string()), in);
    } else if (ends_with(in.filename().string(), index_suffix)) {
      r.indexes.push_back(read_index(in, r.files, notes));
    } else {
      r.files.push_back(in);
    }
  }
  r.single_file = inputs.size() == 1 && r.indexes.empty() && r.files.size() == 1 &&
                  !fs::is_directory(status_of(inputs.front()));
  // The same file twice would only fail later as "duplicate tensor": say what happened.
  std::map<fs::path, fs::path> seen;
  for (const auto& f : r.files) {
    std::error_code ec;
    auto canonical = fs::weakly_canonical(f, ec);
    if (ec) canonical = f;
    if (auto [it, fresh] = seen.emplace(canonical, f); !fresh)
      throw usage_error(fmt::format("{} is given twice (also as {})", f.string(), it->second.string()));
  }
  return r;
}

// Every tensor the index names is in its shard, and every tensor of its shards is named there.
void check_index(const shard_index& index, const std::vector<tensor_file>& files) {
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : index.weight_map) shards.insert(shard);
  const std::string where = fmt::format("{}: weight_map", index.path.string());
  std::map<std::string, std::set<std::string>> found;  // shard → its tensors
  for (const auto& shard : shards) {
    const fs::path path = index.path.parent_path() / shard;
    const auto file = std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.path == path; });
    if (file == files.end()) continue;  // pre: resolve() added every shard
    for (const auto& t : file->tensors) {
      found[shard].insert(t.name);
      const auto listed = index.weight_map.find(t.name);
      if (listed == index.weight_map.end())
        throw format_error(fmt::format("{}: tensor '{}' of shard {} is not listed", where, t.name, shard));
      if (listed->second != shard)
        throw format_error(fmt::format("{}: tensor '{}' is listed in shard {} but is in {}", where,
                                       t.name, listed->second, shard));
    }
  }
  for (const auto& [tensor, shard] : index.weight_map)
    if (found[shard].count(tensor) == 0)
      throw format_error(fmt::format("{}: tensor '{}' is listed in shard {}, which has no such tensor",
                                     where, tensor, shard));
}

std::string merge_metadata(const std::vector<tensor_file>& files, std::vector<std::string>& warnings) {
  std::vector<const tensor_file*> with;
  for (const auto& f : files)
    if (!f.metadata.empty()) with.push_back(&f);
  if (with.empty()) return {};
  if (std::all_of(with.begin(), with.end(), [&](const auto* f) { return f->metadata == with.front()->metadata; }))
    return with.front()->metadata;
  json merged = json::object();
  std::map<std::string, std::string> source;  // key → file it came from
  for (const auto* f : with) {
    const json meta = json::parse(f->metadata);  // our own dump: valid
    for (const auto& [k, v] : meta.items()) {
      if (!merged.contains(k)) {
        merged[k] = v;
        source[k] = f->path.filename().string();
      } else if (merged[k] != v) {
        warnings.push_back(fmt::format("__metadata__ '{}' differs: {} has {}, {} has {}; keeping the first",
                                       k, source[k], merged[k].dump(), f->path.filename().string(), v.dump()));
      }
    }
  }
  return merged.dump();
}

// Fortran (column-major) element order → C (row-major), elem bytes per element.
void fortran_to_c(const std::byte* src, std::byte* dst, const std::vector<std::uint64_t>& shape, std::size_t elem) {
  const std::size_t rank = shape.size();
  std::vector<std::uint64_t> stride(rank), index(rank, 0);
  std::uint64_t count = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    stride[k] = count;
    count *= shape[k];
  }
  std::uint64_t from = 0;
  for (std::uint64_t n = 0; n < count; ++n) {
    std::memcpy(dst + n * elem, src + from * elem, elem);
    for (std::size_t k = rank; k-- > 0;) {
      if (++index[k] < shape[k]) {
        from += stride[k];
        break;
      }
      from -= (shape[k] - 1) * stride[k];
      index[k] = 0;
    }
  }
}

// Column-major only differs from row-major when two or more dimensions exceed 1.
bool needs_transpose(const file_tensor& t) {
  return t.fortran_order && std::count_if(t.shape.begin(), t.shape.end(), [](auto d) { return d > 1; }) >= 2;
}

unsigned swap_unit(const file_tensor& t) {
  if (!t.byte_swapped) return 0;
  const auto size = static_cast<unsigned>(dtype_size(t.type));
  return (t.type == dtype::c64 || t.type == dtype::c128) ? size / 2 : size;  // real, imaginary
}

}  // namespace

std::uint64_t load_plan::bytes() const noexcept {
  std::uint64_t n = 0;
  for (const auto& i : items) n += files[i.file].tensors[i.tensor].size;
  for (const auto& k : kept_files) n += k.size;
  return n;
}

load_plan plan_load(const std::vector<fs::path>& inputs, const load_options& opts) {
  load_plan plan;
  const resolved_inputs r = resolve(inputs, plan.notes);
  plan.files.reserve(r.files.size());
  for (const auto& f : r.files) plan.files.push_back(inspect(f));
  for (const auto& index : r.indexes) check_index(index, plan.files);

  // npy tensors are named by their file's stem.
  for (auto& f : plan.files) {
    if (f.format != file_format::npy) continue;
    std::string stem = f.path.stem().string();
    if (stem.empty() || stem.size() > max_tensor_name)
      throw format_error(fmt::format("{}: name: the file's stem '{}' is {} bytes, not 1 to {} (it "
                                     "names the tensor)", f.path.string(), stem.substr(0, 60),
                                     stem.size(), max_tensor_name));
    f.tensors.front().name = std::move(stem);
  }

  std::map<std::string_view, std::size_t> owner;  // tensor name → file
  std::vector<tensor_spec> specs;
  for (std::size_t fi = 0; fi < plan.files.size(); ++fi) {
    const auto& f = plan.files[fi];
    for (std::size_t ti = 0; ti < f.tensors.size(); ++ti) {
      const auto& t = f.tensors[ti];
      if (auto [it, fresh] = owner.emplace(t.name, fi); !fresh)
        throw format_error(fmt::format("tensor '{}' is in both {} and {}", t.name,
                                       plan.files[it->second].path.string(), f.path.string()));
      if (opts.select && !opts.select(t.name)) continue;
      plan.items.push_back({fi, ti});
      specs.push_back({t.name, t.type, t.shape});
    }
  }
  if (specs.empty())
    throw usage_error(owner.empty() ? "the inputs hold no tensors" : "no tensor was selected");
  if (opts.keep_small_files) {
    for (const auto& dir : r.dirs) {
      for (auto& k : detail::find_kept_files(dir, plan.notes)) {
        specs.push_back({std::string(kept_file_prefix) + k.relative, dtype::u8, {k.size}});
        plan.kept_files.push_back(std::move(k));
      }
    }
    if (!plan.kept_files.empty())
      plan.notes.push_back(fmt::format("kept {} small files (config, tokenizer, …) as {}*",
                                       plan.kept_files.size(), kept_file_prefix));
  }
  const bool as_array = opts.single_npy_as_array && r.single_file &&
                        plan.files.front().format == file_format::npy;
  plan.layout = as_array ? layout::array(specs.front().type, specs.front().shape)
                         : layout::bundle(specs, opts.alignment);
  if (as_array) plan.notes.push_back("one .npy file: a single array (unnamed)");
  plan.metadata = merge_metadata(plan.files, plan.warnings);
  if (opts.record_source) {
    plan.source = detail::source_fingerprint(plan);
    json meta = plan.metadata.empty() ? json::object() : json::parse(plan.metadata);
    meta[std::string(source_key)] = json::parse(plan.source);
    plan.metadata = meta.dump();
  }
  return plan;
}

void fill(draft& d, const load_plan& plan, unsigned threads) {
  const auto& table = d.layout().tensors();
  if (table.size() != plan.items.size() + plan.kept_files.size() || d.layout().data_size() != plan.layout.data_size())
    throw usage_error(fmt::format("fill: draft '{}' was not created with this plan's layout", d.name()));

  std::vector<sys::unique_fd> fds;
  for (const auto& f : plan.files) {
    fds.push_back(sys::open(f.path, O_RDONLY));
    const auto now = sys::fstat(fds.back().get(), f.path).size;
    if (now != f.file_size)
      throw format_error(fmt::format("{}: changed since it was inspected ({} bytes, now {})",
                                     f.path.string(), f.file_size, now));
  }
  std::vector<detail::read_job> jobs;
  std::vector<std::size_t> transposed;  // items read separately, through a buffer
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const auto& item = plan.items[i];
    const auto& f = plan.files[item.file];
    const auto& t = f.tensors[item.tensor];
    if (table[i].size != t.size)
      throw usage_error(fmt::format("fill: draft '{}' tensor {} does not match the plan", d.name(), i));
    if (needs_transpose(t)) {
      transposed.push_back(i);
      continue;
    }
    detail::read_job job{fds[item.file].get(), &f.path, t.file_offset, nullptr, t.size, swap_unit(t)};
    job.out_offset = table[i].offset;
    jobs.push_back(job);
  }
  for (std::size_t k = 0; k < plan.kept_files.size(); ++k) {
    const auto& kept = plan.kept_files[k];
    const auto& entry = table[plan.items.size() + k];
    fds.push_back(sys::open(kept.path, O_RDONLY));
    const auto now = sys::fstat(fds.back().get(), kept.path).size;
    if (now != kept.size || entry.size != kept.size)
      throw format_error(fmt::format("{}: changed since it was inspected ({} bytes, now {})",
                                     kept.path.string(), kept.size, now));
    detail::read_job job{fds.back().get(), &kept.path, 0, nullptr, kept.size, 0};
    job.out_offset = entry.offset;
    jobs.push_back(job);
  }
  detail::fill_from_files(d.internals(), jobs, threads);

  for (std::size_t i : transposed) {
    const auto& item = plan.items[i];
    const auto& f = plan.files[item.file];
    const auto& t = f.tensors[item.tensor];
    std::vector<std::byte> buffer(static_cast<std::size_t>(t.size));
    const detail::read_job job{fds[item.file].get(), &f.path, t.file_offset, buffer.data(), t.size, swap_unit(t)};
    detail::parallel_pread({&job, 1}, threads);
    // Rare (Fortran-order .npy): written through the mapping, which bytes() populates.
    fortran_to_c(buffer.data(), d.bytes().data() + table[i].offset, t.shape, dtype_size(t.type));
  }
}

load_result load_into(store& s, std::string_view name, const load_plan& plan, create_options opts) {
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  if (opts.metadata.empty()) opts.metadata = plan.metadata;
  const auto t0 = clock::now();
  draft d = s.create(name, plan.layout, opts);
  const auto t1 = clock::now();
  fill(d, plan, opts.threads);
  const auto t2 = clock::now();
  create_report report = d.report();
  segment seg = std::move(d).publish();
  const auto t3 = clock::now();
  return load_result{std::move(seg), std::move(report), secs(t0, t1), secs(t1, t2), secs(t2, t3)};
}

load_result load_into(store& s, std::string_view name, const std::vector<fs::path>& inputs,
                      const create_options& opts, const load_options& lopts) {
  return load_into(s, name, plan_load(inputs, lopts), opts);
}

}  // namespace onecopy::formats
