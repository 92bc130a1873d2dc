// SPDX-License-Identifier: Apache-2.0
// onecopy demo: one segment, N worker processes attach it and checksum it; show what each paid
// and what they cost together against N private copies.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "text_table.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/fleet/fleet.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

struct demo_args {
  std::string size = "1GiB";
  int workers = 8;
  bool json = false;
};

// Fills with a cheap pseudo-random pattern so the checksums mean something.
void fill_random(std::span<std::byte> bytes) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t words = bytes.size() / 8;
  auto work = [&](unsigned t) {
    for (std::size_t i = t; i < words; i += threads) {
      std::uint64_t z = i * 0x9E3779B97F4A7C15ull + 1;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z ^= z >> 31;
      std::memcpy(bytes.data() + i * 8, &z, 8);
    }
  };
  std::vector<std::jthread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// How to get huge pages here, when the segment did not get them.
std::vector<std::string> hints(const segment_info& info) {
  if (info.page_size > 4 * KiB) return {};
  return {"4 KiB pages here: 262144 page-table entries per GiB in every worker; huge pages",
          "make random lookups up to 3x faster. Once per boot: sudo onecopy setup --hugepages 2G"};
}

int run_demo(const demo_args& a, const console& out) {
  using clock = std::chrono::steady_clock;
  if (a.workers < 1 || a.workers > 256) throw usage_error(fmt::format("--workers {}: use 1 to 256", a.workers));
  const std::uint64_t bytes = parse_size(a.size);
  store s = open_store(out);
  const std::string name = fmt::format("onecopy-demo-{}", ::getpid());

  const auto t0 = clock::now();
  draft d = s.create(name, layout::bytes(bytes), {.remove_when_unused = true});
  fill_random(d.bytes());
  const auto fallbacks = d.report().fallbacks;
  std::optional<segment> seg(std::move(d).publish());
  const double create_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  const segment_info info = seg->info();
  seg.reset();  // the workers alone map it now: their memory is what is counted

  fleet::fleet_result run;
  try {
    run = fleet::run_readers(fleet::self_executable(), name, a.workers);
  } catch (...) {
    s.remove(name);
    throw;
  }
  s.remove(name);
  const bool agree = run.checksums_agree() && run.readers.front().checksum == info.checksum;
  const std::uint64_t copies = bytes * static_cast<std::uint64_t>(a.workers);
  std::vector<double> attach, sums, first;
  std::uint64_t pss = 0, huge = 0;
  for (const auto& r : run.readers) {
    attach.push_back(r.attach_seconds);
    sums.push_back(r.checksum_seconds);
    first.push_back(r.first_result_seconds);
    pss += r.memory.pss;
    huge += r.memory.hugetlb_share;
  }

  // What attaching and reading the segment added to the workers, apart from the processes
  // themselves (measured once they were ready, before the release).
  const std::uint64_t segment_cost =
      run.total_memory > run.total_memory_before ? run.total_memory - run.total_memory_before : 0;
  if (a.json) {
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& r : run.readers)
      workers.push_back({{"pid", r.pid}, {"attach_seconds", r.attach_seconds},
                         {"checksum_seconds", r.checksum_seconds},
                         {"first_result_seconds", r.first_result_seconds},
                         {"checksum", checksum_hex(r.checksum)},
                         {"pss_bytes", r.memory.pss}, {"hugetlb_share_bytes", r.memory.hugetlb_share},
                         {"memory_before_attach_bytes", r.memory_before.total()}});
    auto seg_json = segment_json(info);
    seg_json["name"] = name;
    print_json({{"segment", seg_json},
                {"create_seconds", create_seconds},
                {"fallbacks", fallbacks},
                {"workers", workers},
                {"checksums_agree", agree},
                {"total_memory_bytes", run.total_memory},
                {"memory_before_attach_bytes", run.total_memory_before},
                {"segment_memory_bytes", segment_cost},
                {"pss_bytes", pss},
                {"hugetlb_share_bytes", huge},
                {"private_copies_bytes", copies},
                {"memory_ratio", static_cast<double>(copies) / static_cast<double>(std::max<std::uint64_t>(run.total_memory, 1))},
                {"median_attach_seconds", median(attach)},
                {"hints", hints(info)}});
    return agree ? 0 : 1;
  }
  fmt::print("onecopy demo: {} worker processes share one {} segment\n\n", a.workers, format_bytes(bytes));
  fmt::print("segment   {} in {} pages, placement {}, pages per node: {}\n", format_bytes(bytes),
             pages_text(info), info.where.to_string(), histogram_text(info.histogram));
  fmt::print("          created, filled, checksummed and published in {}\n", format_seconds(create_seconds));
  for (const auto& f : fallbacks) fmt::print("{}", wrap_lines("fallback: " + f, "          ", "            "));
  fmt::print("\n  worker       pid     attach   checksum   first result   memory (PSS + hugetlb share)\n");
  for (std::size_t i = 0; i < run.readers.size(); ++i) {
    const auto& r = run.readers[i];
    fmt::print("  {:>6}  {:>8}  {:>9}  {:>9}  {:>13}   {}\n", i + 1, r.pid, format_seconds(r.attach_seconds),
               format_seconds(r.checksum_seconds), format_seconds(r.first_result_seconds),
               format_bytes(r.memory.total()));
  }
  fmt::print("\nattach    median {} per worker, whatever the size (open + validate + mmap)\n",
             format_seconds(median(attach)));
  fmt::print("checksums {} ({})\n", agree ? "all equal to the published one" : "DIFFER", checksum_hex(info.checksum));
  fmt::print("memory    {} workers together: {} (PSS {} + hugetlb share {})\n", a.workers,
             format_bytes(run.total_memory), format_bytes(pss), format_bytes(huge));
  fmt::print("          of which the segment: {} ({:.2f} copies); the processes themselves: {}\n",
             format_bytes(segment_cost), static_cast<double>(segment_cost) / static_cast<double>(bytes),
             format_bytes(run.total_memory_before));
  fmt::print("          {} private copies would be {}: {:.1f}x less\n", a.workers, format_bytes(copies),
             static_cast<double>(copies) / static_cast<double>(std::max<std::uint64_t>(run.total_memory, 1)));
  for (const auto& h : hints(info)) fmt::print("hint      {}\n", h);
  return agree ? 0 : 1;
}

}  // namespace

void add_demo(CLI::App& app, registry& r) {
  auto a = std::make_shared<demo_args>();
  auto* sub = app.add_subcommand("demo", "Show N worker processes sharing one copy of an array");
  sub->add_option("--size", a->size, "Segment size")->capture_default_str();
  sub->add_option("--workers", a->workers, "Worker processes")->capture_default_str();
  sub->add_flag("--json", a->json, "Print the figures as one JSON object");
  r.add(sub, [a](const console& out) { return run_demo(*a, out); });

  auto name = std::make_shared<std::string>();
  auto* reader = app.add_subcommand("__reader", "");  // internal: a demo/bench worker
  reader->group("");
  reader->add_option("NAME", *name)->required();
  r.add(reader, [name](const console&) { return fleet::reader_main(*name); });
}

}  // namespace onecopy::cli
