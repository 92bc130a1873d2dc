// SPDX-License-Identifier: Apache-2.0
// Loading tensor files into ONE segment: which files an input names (a file, several files, a
// sharded model directory or its index), the bundle layout mirroring them, and a parallel fill.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/formats/tensor_file.hpp"
#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/store.hpp"

namespace onecopy::formats {

/// Tensor-name prefix of a model directory's small files kept in its bundle (keep_small_files):
/// "onecopy.files/config.json", "onecopy.files/1_Pooling/config.json" (u8 tensors).
inline constexpr std::string_view kept_file_prefix = "onecopy.files/";
/// The largest file keep_small_files keeps: configs, tokenizers and vocabularies are far smaller
/// (a big tokenizer.json is ~35 MB); larger files are left out (and noted).
inline constexpr std::uint64_t max_kept_file = std::uint64_t{64} << 20;
/// The metadata key of the source fingerprint (record_source).
inline constexpr std::string_view source_key = "onecopy.source";

/// How to turn files into a segment.
struct load_options {
  /// Byte alignment of each tensor in the segment (a power of two ≥ tensor_alignment).
  std::uint64_t alignment = tensor_alignment;
  /// Keeps only the tensors for which it returns true (all when empty). Files are still
  /// validated whole.
  std::function<bool(std::string_view name)> select;
  /// One .npy file alone becomes a single (unnamed) array segment, not a bundle of one.
  bool single_npy_as_array = true;
  /// A directory input also keeps its other regular files of at most max_kept_file bytes
  /// (config.json, tokenizer files, …; not hidden ones, not weights in other formats, up to
  /// 3 levels deep) as u8 tensors named kept_file_prefix + their relative path.
  bool keep_small_files = false;
  /// Adds source_key to the metadata: a fingerprint of the inputs (file names, sizes, an xxh3
  /// of each tensor file's header and of each kept file) that says, without reading the
  /// tensors, whether two loads come from the same content.
  bool record_source = false;
};

/// A small file of a directory input, kept in the bundle (load_options::keep_small_files).
struct kept_file {
  std::filesystem::path path;
  std::string relative;  ///< '/'-separated path inside the directory
  std::uint64_t size = 0;
};

/// Where one segment tensor comes from.
struct load_item {
  std::size_t file = 0;    ///< index into load_plan::files
  std::size_t tensor = 0;  ///< index into that file's tensors
};

/// What a load will do: the files, the segment's layout and metadata. Built by plan_load().
struct load_plan {
  load_plan() = default;  // not an aggregate: a braced list of paths means the inputs overload

  std::vector<tensor_file> files;
  std::vector<load_item> items;  ///< one per layout tensor, same order, then kept_files
  std::vector<kept_file> kept_files;  ///< after the tensors in the layout
  onecopy::layout layout;        ///< the segment's tensor table
  std::string metadata;          ///< kept in the segment (safetensors __metadata__ as JSON)
  std::vector<std::string> notes;     ///< how the inputs were resolved, one line each
  std::vector<std::string> warnings;  ///< e.g. shards whose __metadata__ disagree
  std::string source;  ///< the fingerprint as compact JSON ("" unless record_source)

  /// Bytes copied from files (the selected tensors and the kept files).
  [[nodiscard]] std::uint64_t bytes() const noexcept;
};

/// Resolves inputs and validates every file. An input is a .safetensors or .npy file, a
/// `*.safetensors.index.json` (its weight_map names the shards, next to it), or a directory:
/// its index when it has one, else every *.safetensors in it, else every *.npy (sorted by
/// name). Safetensors tensors keep their names and file order, files in the given (or sorted)
/// order; a .npy tensor is named by its file's stem ("layers.0.weight.npy" → "layers.0.weight").
/// Metadata: one file's __metadata__ as is; for several, the union of their keys (the first
/// file wins a conflict, noted in warnings).
/// @throws usage_error for no inputs, an input that is neither file nor directory, an empty
///         directory or a bad option; os_error naming a file that cannot be read; format_error
///         naming the file, tensor and field for malformed files, tensor names that repeat
///         across files, and an index whose weight_map disagrees with its shards
[[nodiscard]] load_plan plan_load(const std::vector<std::filesystem::path>& inputs,
                                  const load_options& opts = {});

/// Copies the plan's tensors into a draft created with plan.layout, in parallel (pread),
/// swapping big-endian .npy data and transposing Fortran-order arrays.
/// @param threads 0 = one per CPU
/// @throws usage_error when the draft's layout is not the plan's; os_error naming a file that
///         cannot be read; format_error when a file shrank since it was inspected
void fill(draft& d, const load_plan& plan, unsigned threads = 0);

/// What load_into() did.
struct load_result {
  onecopy::segment segment;
  create_report report;
  double create_seconds = 0;   ///< store::create (sizing, placement, populate)
  double fill_seconds = 0;     ///< fill()
  double publish_seconds = 0;  ///< checksum, header, seal, rename
};

/// Creates segment name from the plan, fills and publishes it. opts.metadata, when empty,
/// becomes plan.metadata.
/// @throws everything store::create, fill and draft::publish throw
[[nodiscard]] load_result load_into(store& s, std::string_view name, const load_plan& plan,
                                    create_options opts = {});

/// plan_load() then load_into().
[[nodiscard]] load_result load_into(store& s, std::string_view name,
                                    const std::vector<std::filesystem::path>& inputs,
                                    const create_options& opts = {},
                                    const load_options& lopts = {});

}  // namespace onecopy::formats
