// SPDX-License-Identifier: Apache-2.0
// Seeds for fuzz_segment_header: real segment files, published by the engine from the
// safetensors and .npy seeds (themselves written by numpy and the safetensors package).
// usage: make_segment_seeds OUTDIR INPUT...
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "onecopy/engine/formats/load.hpp"
#include "onecopy/engine/store.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUTDIR INPUT...\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  fs::create_directories(out);
  char dir_template[] = "/dev/shm/onecopy-seeds.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return 1;
  int made = 0;
  {
    onecopy::store s = onecopy::store::at(dir_template);
    for (int i = 2; i < argc; ++i) {
      const fs::path in = argv[i];
      const std::string name = "seed" + std::to_string(i);
      try {
        auto r = onecopy::formats::load_into(s, name, {in});
        fs::copy_file(r.segment.path(), out / (in.stem().string() + ".segment"),
                      fs::copy_options::overwrite_existing);
        ++made;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "make_segment_seeds: skipping %s: %s\n", in.c_str(), e.what());
      }
    }
  }
  fs::remove_all(dir_template);
  std::printf("make_segment_seeds: %d segments in %s\n", made, out.c_str());
  return made > 0 ? 0 : 1;
}
