// SPDX-License-Identifier: Apache-2.0
#include "placement_checks.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "onecopy/units.hpp"

namespace numa_vm {

using onecopy::node_pages;

std::string histogram_text(const std::vector<node_pages>& h) {
  if (h.empty()) return "(none)";
  std::string s;
  for (const auto& e : h) s += fmt::format("{}node{}={}", s.empty() ? "" : " ", e.node, e.pages);
  return s;
}

std::uint64_t total_pages(const std::vector<node_pages>& h) {
  std::uint64_t sum = 0;
  for (const auto& e : h) sum += e.pages;
  return sum;
}

std::uint64_t pages_on(const std::vector<node_pages>& h, int node) {
  for (const auto& e : h)
    if (e.node == node) return e.pages;
  return 0;
}

namespace {
std::uint64_t pattern_word(std::uint64_t at, std::uint64_t seed) { return (at * 0x9E3779B97F4A7C15ull) ^ seed; }
}  // namespace

void fill_pattern(std::span<std::byte> bytes, std::uint64_t seed) {
  // One word per 4 KiB: every page differs (a page mix-up changes the checksum), and filling
  // stays cheap under TCG.
  for (std::size_t at = 0; at + sizeof(std::uint64_t) <= bytes.size(); at += 4096) {
    const std::uint64_t v = pattern_word(at, seed);
    std::memcpy(bytes.data() + at, &v, sizeof v);
  }
}

std::uint64_t first_pattern_mismatch(std::span<const std::byte> bytes, std::uint64_t seed) {
  std::uint64_t at = 0;
  for (; at + sizeof(std::uint64_t) <= bytes.size(); at += sizeof(std::uint64_t)) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    if (v != (at % 4096 == 0 ? pattern_word(at, seed) : 0)) return at;
  }
  for (; at < bytes.size(); ++at)
    if (bytes[at] != std::byte{0}) return at / sizeof(std::uint64_t) * sizeof(std::uint64_t);
  return bytes.size();
}

made_segment make_segment(onecopy::store& s, const std::string& name, std::uint64_t bytes,
                          const onecopy::create_options& opts, std::uint64_t seed) {
  auto d = s.create(name, onecopy::layout::bytes(bytes), opts);
  fill_pattern(d.bytes(), seed);
  auto report = d.report();
  return {std::move(d).publish(), std::move(report)};
}

void expect_spread(check& ck, std::string_view label, const std::vector<node_pages>& h,
                   const onecopy::placement& where, std::uint64_t total) {
  ck.note(fmt::format("{:<34} {}", label, histogram_text(h)));
  ck.expect(total_pages(h) == total, fmt::format("{}: {} pages counted, the file has {}", label, total_pages(h), total));
  const auto& nodes = where.nodes;
  for (const auto& e : h)
    ck.expect(std::find(nodes.begin(), nodes.end(), e.node) != nodes.end(),
              fmt::format("{}: {} pages on node {}, outside {}", label, e.pages, e.node, where.to_string()));
  if (where.policy == onecopy::numa_policy::bind && nodes.size() == 1)
    ck.expect(pages_on(h, nodes.front()) == total,
              fmt::format("{}: {} of {} pages on node {}", label, pages_on(h, nodes.front()), total, nodes.front()));
  if (where.policy == onecopy::numa_policy::interleave) {
    const std::uint64_t share = total / nodes.size();
    for (int n : nodes) {
      const auto got = pages_on(h, n);
      ck.expect(got == share || got == share + 1,
                fmt::format("{}: node {} has {} pages, an even share of {} is {} or {}", label, n, got,
                            total, share, share + 1));
    }
  }
}

void expect_placed(check& ck, const made_segment& m, onecopy::backing_kind backing, std::uint64_t page,
                   const onecopy::placement& where) {
  const auto& r = m.report;
  const auto& info = m.seg.info();
  ck.note(fmt::format("created {}: backing {}, pages {}, huge {}, file {}, placement {}, populate {}",
                      m.seg.name(), onecopy::to_string(r.backing), onecopy::format_page_size(r.page_size),
                      onecopy::format_bytes(r.huge_bytes), onecopy::format_bytes(r.file_size),
                      r.where.to_string(), onecopy::format_seconds(r.populate_seconds)));
  for (const auto& f : r.fallbacks) ck.note("fallback: " + f);
  for (const auto& w : r.warnings) ck.note("warning: " + w);
  ck.expect(r.backing == backing && info.backing == backing,
            fmt::format("backing is {}, expected {}", onecopy::to_string(r.backing), onecopy::to_string(backing)));
  ck.expect(info.page_size == page, fmt::format("page size {}, expected {}", info.page_size, page));
  ck.expect(r.fallbacks.empty(), "page-size fallbacks were recorded");
  // hugetlbfs files are whole huge pages; a THP tmpfs file is not rounded, so its tail past the
  // last whole 2 MiB stays in base pages.
  const std::uint64_t huge_expected = backing == onecopy::backing_kind::hugetlbfs ? info.file_size : info.file_size / page * page;
  if (page > 4096) ck.expect(info.huge_bytes == huge_expected, fmt::format("{} of {} bytes in huge pages, expected {}", info.huge_bytes, info.file_size, huge_expected));
  ck.expect(info.where == where, fmt::format("recorded placement {}, expected {}", info.where.to_string(), where.to_string()));
  const std::uint64_t total = (info.file_size + page - 1) / page;  // a partial last page counts
  expect_spread(ck, "info().histogram (at create)", info.histogram, where, total);
  ck.expect(r.histogram == info.histogram, "create_report::histogram differs from info().histogram");
  const auto live = m.seg.node_histogram();
  ck.note(fmt::format("{:<34} {}", "node_histogram() (creator)", histogram_text(live)));
  ck.expect(live == info.histogram, "node_histogram() of the creator's mapping differs from info().histogram");
}

}  // namespace numa_vm
