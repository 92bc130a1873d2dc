// SPDX-License-Identifier: Apache-2.0
// numa-vm-guest: the program /init runs inside the QEMU guest.
//   numa-vm-guest run [--suite placement|gib-pages] --nodes N [--cpus "0-1;2-3"]
//                     [--distances "10,21;21,10"] [--filter TEXT]
//   numa-vm-guest create|read|... ... (roles of the multi-process cases, see roles.hpp)
//   numa-vm-guest qemu-exit CODE     (drain the console, leave QEMU through isa-debug-exit)
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gib_page_cases.hpp"
#include "guest_os.hpp"
#include "harness.hpp"
#include "placement_cases.hpp"
#include "roles.hpp"

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  return parts;
}

// "10,21;21,10" → {{10,21},{21,10}}
std::vector<std::vector<int>> parse_matrix(const std::string& text) {
  std::vector<std::vector<int>> rows;
  for (const auto& row : split(text, ';')) {
    std::vector<int> r;
    for (const auto& cell : split(row, ',')) r.push_back(std::stoi(cell));
    rows.push_back(std::move(r));
  }
  return rows;
}

int run(const std::vector<std::string>& args) {
  numa_vm::guest_config config;
  std::string suite = "placement";
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--nodes") config.nodes = std::stoi(args[i + 1]);
    else if (args[i] == "--distances") config.distances = parse_matrix(args[i + 1]);
    else if (args[i] == "--cpus") config.cpus = split(args[i + 1] + ";", ';');
    else if (args[i] == "--filter") config.filter = args[i + 1];
    else if (args[i] == "--suite") suite = args[i + 1];
    else throw std::invalid_argument("unknown option " + args[i]);
  }
  if (config.nodes < 1) throw std::invalid_argument("--nodes N is required");
  if (suite != "placement" && suite != "gib-pages")
    throw std::invalid_argument("--suite must be placement or gib-pages, not " + suite);
  const std::vector<numa_vm::guest_case> cases =
      suite == "placement" ? numa_vm::placement_cases() : numa_vm::gib_page_cases();
  return numa_vm::run_cases(cases, config);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: numa-vm-guest run [--suite S] --nodes N [--cpus L] [--distances M] [--filter TEXT] | "
                         "create … | read … | read-replica … | create-gib … | read-gib … | qemu-exit CODE\n");
    return 2;
  }
  const std::string role = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (role == "run") return run(args);
    if (role == "create") return numa_vm::run_creator(args);
    if (role == "read") return numa_vm::run_reader(args);
    if (role == "read-replica") return numa_vm::run_replica_reader(args);
    if (role == "create-gib") return numa_vm::run_gib_creator(args);
    if (role == "read-gib") return numa_vm::run_gib_reader(args);
    if (role == "qemu-exit" && args.size() == 1) {
      numa_vm::qemu_exit(std::stoi(args[0]));
      return 1;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "numa-vm-guest {}: {}\n", role, e.what());
    return 1;
  }
  std::fprintf(stderr, "numa-vm-guest: unknown role '%s'\n", role.c_str());
  return 2;
}
