// SPDX-License-Identifier: Apache-2.0
// Many readers, one array: N = 1, 2, 4, 8, 16 processes get the same bytes and each checksums
// them, released together by the reader fleet that `onecopy demo` uses (fleet/). Modes:
//   onecopy    attach a segment of the store in the environment (ONECOPY_DIR)
//   posix_shm  shm_open + mmap of one POSIX shared-memory object (4 KiB pages, no placement)
//   file       each reader read(2)s the whole file into private memory (a page-cached file)
//   pipe       each reader receives the bytes through a pipe from the driver (what pickling does)
// Prints one JSON line per run: times (attach, checksum, time to first result: median, min,
// max over the readers) and the readers' memory (PSS + hugetlb share, before and after), with
// the machine's facts. Never asserts. Copying modes that would exceed --budget are skipped
// with a JSON line that says so.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backings.hpp"
#include "machine.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/fleet/fleet.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "regions.hpp"

namespace onecopy::bench {
namespace {

struct options {
  std::vector<std::string> modes{"onecopy"};
  std::string size = "1GiB";
  std::vector<int> readers{1, 2, 4, 8, 16};
  int repeat = 3;
  std::string budget = "6GiB";
  std::string onecopy = ONECOPY_EXE;
  std::string file_dir = "/var/tmp";
};

nlohmann::json stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  const double median = n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {{"median", median}, {"min", n ? v.front() : 0}, {"max", n ? v.back() : 0}};
}

std::uint64_t mem_available() {
  std::istringstream in(sys::read_text_if_exists("/proc/meminfo").value_or(""));
  std::string key, unit;
  unsigned long long kb = 0;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * KiB;
  return 0;
}

// Writes data_bytes of fill_pattern to fd in 64 MiB pieces (the pattern depends on the offset).
void write_pattern(int fd, std::uint64_t data_bytes, const std::string& what) {
  std::vector<std::byte> piece(64 * MiB);
  for (std::uint64_t at = 0; at < data_bytes; at += piece.size()) {
    const std::uint64_t n = std::min<std::uint64_t>(piece.size(), data_bytes - at);
    fill_pattern(piece, 1 + at / 8);
    if (::pwrite(fd, piece.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
      sys::throw_errno(fmt::format("pwrite({})", what));
  }
}

// One mode's bytes, made once and reused by every run of that mode; removed on destruction.
struct source {
  fleet::reader_source reader;
  std::string pages;                 // the pages readers map or copy into
  std::uint64_t extra_host_bytes = 0;  // memory outside the readers: page cache, sender's copy
  bool copies = false;               // each reader holds its own copy
  std::optional<region> payload;     // pipe: the sender's copy
  std::function<void()> remove;
  source() = default;
  source(const source&) = delete;
  source& operator=(const source&) = delete;
  ~source() {
    if (remove) remove();
  }
};

std::unique_ptr<source> make_source(const std::string& mode, std::uint64_t size, const options& o) {
  const std::uint64_t data = data_size_for(size);
  auto s = std::make_unique<source>();
  const std::string name = fmt::format("many-readers-{}", ::getpid());
  if (mode == "onecopy") {
    store st = store::from_environment();
    draft d = st.create(name, layout::bytes(data));
    fill_pattern(d.bytes());
    const segment seg = std::move(d).publish();
    const page_kind k = kind_of(seg.info().backing, seg.info().page_size);
    s->pages = fmt::format("{} ({})", label(k), pages_of(seg.bytes().data()));
    s->reader = {fleet::reader_mode::segment, name, 0};
    s->remove = [st, name]() mutable {
      try {
        st.remove(name);
      } catch (...) {
      }
    };
  } else if (mode == "posix_shm") {
    const std::string shm = "/" + name;
    const int fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) sys::throw_errno(fmt::format("shm_open({})", shm));
    s->remove = [shm] { ::shm_unlink(shm.c_str()); };
    sys::unique_fd owner(fd);
    sys::truncate(fd, data, shm);
    write_pattern(fd, data, shm);
    s->pages = "shm_4k (4 KiB, no placement)";
    s->reader = {fleet::reader_mode::posix_shm, shm, 0};
  } else if (mode == "file") {
    std::string path = (std::filesystem::path(o.file_dir) / "onecopy-bench.XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0) sys::throw_errno(fmt::format("mkstemp({})", path));
    s->remove = [path] { ::unlink(path.c_str()); };
    sys::unique_fd owner(fd);
    write_pattern(fd, data, path);
    s->pages = "private 4 KiB (read(2) from the page cache)";
    s->reader = {fleet::reader_mode::file, path, 0};
    s->copies = true;
    s->extra_host_bytes = data;  // the file's page cache
  } else if (mode == "pipe") {
    s->payload.emplace(region::private_anonymous(page_kind::base, data));
    fill_pattern(s->payload->bytes());
    s->pages = "private 4 KiB (received through a pipe)";
    s->reader = {fleet::reader_mode::pipe, "", data};
    s->copies = true;
    s->extra_host_bytes = data;  // the sender's copy
  } else {
    throw usage_error(fmt::format("--mode {}: use onecopy, posix_shm, file or pipe", mode));
  }
  return s;
}

nlohmann::json facts() {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : machine_facts()) j[k] = v;
  return j;
}

int run(const options& o) {
  const std::uint64_t size = parse_size(o.size);
  const std::uint64_t budget = parse_size(o.budget);
  const std::uint64_t data = data_size_for(size);
  for (const auto& mode : o.modes) {
    auto src = make_source(mode, size, o);
    for (int n : o.readers) {
      for (int rep = 0; rep < o.repeat; ++rep) {
        nlohmann::json line = {{"bench", "many_readers"}, {"mode", mode}, {"pages", src->pages},
                               {"size_bytes", size}, {"data_bytes", data}, {"readers", n}, {"rep", rep}};
        const std::uint64_t need = src->copies ? static_cast<std::uint64_t>(n) * data : 0;
        if (need > budget || (need > 0 && need + GiB > mem_available())) {
          line["skipped"] = fmt::format("{} private copies need {}: over the budget of {} or the "
                                        "available memory ({})", n, format_bytes(need),
                                        format_bytes(budget), format_bytes(mem_available()));
          std::printf("%s\n", line.dump().c_str());
          std::fflush(stdout);
          break;
        }
        const auto payload = src->payload ? std::span<const std::byte>(src->payload->bytes().first(data))
                                          : std::span<const std::byte>();
        const fleet::fleet_result r = fleet::run_readers(o.onecopy, src->reader, n, payload);
        std::vector<double> attach, sums, first;
        for (const auto& x : r.readers) {
          attach.push_back(x.attach_seconds);
          sums.push_back(x.checksum_seconds);
          first.push_back(x.first_result_seconds);
        }
        line["attach_s"] = stats(attach);
        line["checksum_s"] = stats(sums);
        line["first_result_s"] = stats(first);
        line["total_memory_bytes"] = r.total_memory;
        line["memory_before_bytes"] = r.total_memory_before;
        line["memory_over_one_copy"] = static_cast<double>(r.total_memory) / static_cast<double>(data);
        line["data_memory_over_one_copy"] =
            static_cast<double>(r.total_memory - std::min(r.total_memory, r.total_memory_before)) /
            static_cast<double>(data);
        line["extra_host_bytes"] = src->extra_host_bytes;
        line["checksums_agree"] = r.checksums_agree();
        line["checksum"] = fmt::format("{:016x}", r.readers.front().checksum);
        line["context"] = facts();
        std::printf("%s\n", line.dump().c_str());
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace onecopy::bench

int main(int argc, char** argv) {
  // The fleet spawns `onecopy __reader …`; this driver only runs the parent's side.
  onecopy::bench::options o;
  CLI::App app{"Many reader processes, one array: onecopy against its alternatives (JSON lines)"};
  app.add_option("--mode", o.modes, "onecopy, posix_shm, file, pipe (several allowed)")->delimiter(',')->capture_default_str();
  app.add_option("--size", o.size, "File size of the array (the data is this less the 8 KiB header)")->capture_default_str();
  app.add_option("--readers", o.readers, "Reader counts")->delimiter(',')->capture_default_str();
  app.add_option("--repeat", o.repeat, "Runs per reader count")->capture_default_str();
  app.add_option("--budget", o.budget, "Most memory the private copies of one run may take")->capture_default_str();
  app.add_option("--onecopy", o.onecopy, "The onecopy executable (runs the readers)")->capture_default_str();
  app.add_option("--file-dir", o.file_dir, "Directory of the file mode's file (page-cached)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return onecopy::bench::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "many_readers: %s\n", e.what());
    return 1;
  }
}
