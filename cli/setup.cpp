// SPDX-License-Identifier: Apache-2.0
// onecopy setup: the one admin step per boot that gives ordinary users huge pages for named
// segments — reserve huge-page pools, mount hugetlbfs (2 MiB, 1 GiB) and a THP tmpfs
// (huge=within_size), all mode 1777, and write the config the engine reads. Idempotent;
// --undo reverses exactly what it changed (recorded in the config); --dry-run only prints.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

struct setup_args {
  std::string hugepages;     // 2 MiB pool size
  std::string hugepages_1g;  // 1 GiB pool size
  std::string nodes;         // reserve on these nodes (split evenly); empty = host-wide
  std::string thp_size = "50%";
  std::string mount_root = "/mnt/onecopy";
  bool undo = false;
  bool dry_run = false;
  bool force = false;
};

std::filesystem::path config_path() {
  const char* conf = std::getenv("ONECOPY_CONF");
  return conf != nullptr && *conf != '\0' ? conf : "/etc/onecopy.conf";
}

// What an earlier setup recorded, so a second run stays idempotent and --undo knows the
// original state.
struct undo_state {
  std::vector<std::string> mounts;  // in the order they were made
  struct pool_change {
    std::string knob;
    std::uint64_t before = 0;
    std::uint64_t after = 0;
  };
  std::vector<pool_change> pools;
};

undo_state read_undo(const std::filesystem::path& conf) {
  undo_state u;
  auto text = sys::read_text_if_exists(conf);
  if (!text) return u;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    std::istringstream value(line.substr(eq + 1));
    if (key == "setup.mount") {
      std::string dir;
      value >> dir;
      u.mounts.push_back(dir);
    } else if (key == "setup.hugepages") {
      undo_state::pool_change p;
      value >> p.knob >> p.before >> p.after;
      u.pools.push_back(p);
    }
  }
  return u;
}

bool is_mounted(const std::filesystem::path& dir, const std::string& type) {
  for (const auto& m : sysfs::mounts())
    if (m.dir == dir && m.type == type) return true;
  return false;
}

std::filesystem::path pool_knob(std::uint64_t page_size, int node) {
  if (node < 0) return fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB/nr_hugepages", page_size / KiB);
  return fmt::format("/sys/devices/system/node/node{}/hugepages/hugepages-{}kB/nr_hugepages", node, page_size / KiB);
}

class setup_run {
 public:
  explicit setup_run(const setup_args& a) : a_(a), conf_(config_path()), undo_(read_undo(conf_)) {}

  int apply() {
    if (!a_.dry_run && ::geteuid() != 0)
      throw permission_error(EPERM, "onecopy setup changes huge-page pools and mounts: run it as root "
                                    "(or with --dry-run to see what it would do)");
    const std::filesystem::path root = a_.mount_root;
    std::vector<std::filesystem::path> stores;
    try {
      if (!a_.hugepages.empty()) reserve(2 * MiB, parse_size(a_.hugepages));
      if (!a_.hugepages_1g.empty()) reserve(GiB, parse_size(a_.hugepages_1g));
      if (std::filesystem::exists("/sys/kernel/mm/hugepages/hugepages-1048576kB")) {
        mount(root / "hugetlbfs-1G", "hugetlbfs", "pagesize=1G,mode=1777");
        stores.push_back(root / "hugetlbfs-1G");
      }
      mount(root / "hugetlbfs-2M", "hugetlbfs", "pagesize=2M,mode=1777");
      stores.push_back(root / "hugetlbfs-2M");
      mount(root / "thp", "tmpfs", fmt::format("huge=within_size,size={},mode=1777", a_.thp_size));
      stores.push_back(root / "thp");
    } catch (...) {
      // Record what was done so far, so --undo can still reverse it.
      if (!a_.dry_run && (!undo_.mounts.empty() || !undo_.pools.empty())) {
        stores.emplace_back("/dev/shm");
        write_config(stores);
      }
      throw;
    }
    stores.emplace_back("/dev/shm");
    write_config(stores);
    if (sysfs::thp_shmem_mode() == "deny")
      say("warning: shmem_enabled is 'deny': the THP tmpfs will get no huge pages");
    say(a_.dry_run ? "dry run: nothing was changed" :
        "done: every user's segments now get huge pages ('onecopy put', 'onecopy demo'); undo with 'onecopy setup --undo'");
    return 0;
  }

  int undo() {
    if (!a_.dry_run && ::geteuid() != 0)
      throw permission_error(EPERM, "onecopy setup --undo changes pools and mounts: run it as root");
    if (!std::filesystem::exists(conf_)) {
      say(fmt::format("nothing to undo: {} does not exist", conf_.string()));
      return 0;
    }
    for (auto it = undo_.mounts.rbegin(); it != undo_.mounts.rend(); ++it) unmount(*it);
    for (auto it = undo_.pools.rbegin(); it != undo_.pools.rend(); ++it) restore_pool(*it);
    act(fmt::format("remove {}", conf_.string()), [&] { std::filesystem::remove(conf_); });
    return 0;
  }

 private:
  void say(const std::string& line) { fmt::print("{}\n", line); }

  template <class F>
  void act(const std::string& what, F&& f) {
    say((a_.dry_run ? "would " : "") + what);
    if (!a_.dry_run) f();
  }

  // The pool of page_size pages holds at least bytes (split over --nodes when given).
  void reserve(std::uint64_t page_size, std::uint64_t bytes) {
    const std::uint64_t pages = (bytes + page_size - 1) / page_size;
    std::vector<int> nodes{-1};
    if (!a_.nodes.empty()) nodes = sys::parse_cpulist(a_.nodes);
    const std::uint64_t per = (pages + nodes.size() - 1) / nodes.size();
    for (int node : nodes) {
      const auto knob = pool_knob(page_size, node);
      if (!std::filesystem::exists(knob))
        throw os_error(ENOENT, fmt::format("{} pool{}: {} does not exist (no such node or page size)",
                                           format_page_size(page_size), node < 0 ? "" : fmt::format(" on node {}", node),
                                           knob.string()));
      const auto now = sys::read_number(knob).value_or(0);
      const std::string where = node < 0 ? "host" : fmt::format("node {}", node);
      if (now >= per) {
        say(fmt::format("{} pool on {}: already {} pages (≥ {})", format_page_size(page_size), where, now, per));
        continue;
      }
      act(fmt::format("reserve {} {} pages on {} (pool {} → {})", per - now, format_page_size(page_size), where, now, per),
          [&] {
            sys::write_text(knob, std::to_string(per));
            const auto got = sys::read_number(knob).value_or(0);
            if (got < per)
              say(fmt::format("warning: the kernel found only {} of {} {} pages on {} (memory fragmented; "
                              "reserve at boot with hugepages= on the kernel command line)",
                              got, per, format_page_size(page_size), where));
            record_pool(knob.string(), now, got);
          });
    }
  }

  void record_pool(const std::string& knob, std::uint64_t before, std::uint64_t after) {
    for (auto& p : undo_.pools)
      if (p.knob == knob) {  // keep the state from before the first setup
        p.after = after;
        return;
      }
    undo_.pools.push_back({knob, before, after});
  }

  void mount(const std::filesystem::path& dir, const std::string& type, const std::string& options) {
    if (is_mounted(dir, type)) {
      say(fmt::format("{} on {}: already mounted", type, dir.string()));
      return;
    }
    act(fmt::format("mount -t {} -o {} {}", type, options, dir.string()), [&] {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) throw_os_error(ec.value(), fmt::format("mkdir({})", dir.string()));
      if (::mount(type.c_str(), dir.c_str(), type.c_str(), MS_NODEV | MS_NOSUID, options.c_str()) != 0)
        sys::throw_errno(fmt::format("mount(-t {} -o {} {})", type, options, dir.string()));
      if (std::find(undo_.mounts.begin(), undo_.mounts.end(), dir.string()) == undo_.mounts.end())
        undo_.mounts.push_back(dir.string());
    });
  }

  void unmount(const std::string& dir) {
    std::vector<std::string> inside;
    std::error_code ec;
    for (const auto& user : std::filesystem::directory_iterator(dir, ec))
      for (const auto& f : std::filesystem::directory_iterator(user.path(), ec))
        if (f.path().filename() != ".locks") inside.push_back(f.path().string());
    if (!inside.empty() && !a_.force)
      throw os_error(EBUSY, fmt::format("undo: {} still holds {} segment file(s) (e.g. {}); 'onecopy rm' "
                                        "them or pass --force to drop them", dir, inside.size(), inside.front()));
    act(fmt::format("umount {}", dir), [&] {
      if (::umount2(dir.c_str(), 0) != 0) {
        if (errno == EINVAL || errno == ENOENT) return;  // not mounted any more
        sys::throw_errno(fmt::format("umount({}) (segments still mapped?)", dir));
      }
      ::rmdir(dir.c_str());
    });
  }

  void restore_pool(const undo_state::pool_change& p) {
    const auto now = sys::read_number(p.knob).value_or(0);
    // Others may have grown or shrunk the pool since: take back only what setup added.
    const std::uint64_t added = p.after > p.before ? p.after - p.before : 0;
    const std::uint64_t target = now > added ? now - added : 0;
    act(fmt::format("return {} pages: {} {} → {}", added, p.knob, now, target),
        [&] { sys::write_text(p.knob, std::to_string(target)); });
  }

  void write_config(const std::vector<std::filesystem::path>& stores) {
    std::string text = "# onecopy store configuration, written by 'onecopy setup' (" +
                       utc_text(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count()) +
                       ").\n# Segments go to the first store that can hold them with the "
                       "requested pages.\n";
    for (const auto& s : stores) text += "store = " + s.string() + "\n";
    text += "# What setup changed; 'onecopy setup --undo' reverses it.\n";
    for (const auto& m : undo_.mounts) text += "setup.mount = " + m + "\n";
    for (const auto& p : undo_.pools) text += fmt::format("setup.hugepages = {} {} {}\n", p.knob, p.before, p.after);
    act(fmt::format("write {}", conf_.string()), [&] {
      const auto tmp = conf_.string() + ".tmp";
      {
        std::ofstream out(tmp);
        out << text;
        if (!out) throw os_error(EIO, fmt::format("write({})", tmp));
      }
      ::chmod(tmp.c_str(), 0644);
      if (::rename(tmp.c_str(), conf_.c_str()) != 0) sys::throw_errno(fmt::format("rename({}, {})", tmp, conf_.string()));
    });
  }

  setup_args a_;
  std::filesystem::path conf_;
  undo_state undo_;
};

}  // namespace

void add_setup(CLI::App& app, registry& r) {
  auto a = std::make_shared<setup_args>();
  auto* sub = app.add_subcommand("setup", "Admin, once per boot: huge-page pools, hugetlbfs and THP tmpfs mounts, config");
  sub->add_option("--hugepages", a->hugepages, "Reserve this much memory as 2 MiB huge pages (e.g. 8G)");
  sub->add_option("--hugepages-1g", a->hugepages_1g, "Reserve this much memory as 1 GiB huge pages");
  sub->add_option("--nodes", a->nodes, "Reserve on these NUMA nodes, split evenly (e.g. 0-1); default host-wide");
  sub->add_option("--thp-size", a->thp_size, "Size limit of the THP tmpfs")->capture_default_str();
  sub->add_option("--mount-root", a->mount_root, "Where the mounts go")->capture_default_str();
  sub->add_flag("--undo", a->undo, "Reverse what setup did (as recorded in the config)");
  sub->add_flag("--dry-run", a->dry_run, "Print what would be done, change nothing");
  sub->add_flag("--force", a->force, "With --undo: unmount even if segments remain (they are lost)");
  sub->footer("Config: $ONECOPY_CONF, default /etc/onecopy.conf. Mounts and pools last until reboot.");
  r.add(sub, [a](const console& out) {
    setup_run run(*a);
    out.detail(fmt::format("config {}", config_path().string()));
    return a->undo ? run.undo() : run.apply();
  });
}

}  // namespace onecopy::cli
