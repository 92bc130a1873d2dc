// SPDX-License-Identifier: Apache-2.0
// gpu_smoke: one run that exercises every GPU path on a real device and prints one JSON line.
//   1. makes a segment (--size, default 1 GiB) in a private store and registers it (timed);
//   2. H2D copy from the pinned shared mapping vs from pageable memory (GB/s);
//   3. a kernel reading the registered host memory in place (zero-copy GB/s) and device memory;
//   4. starts `onecopy serve`, which makes the device copy (VMM, else legacy IPC);
//   5. imports it in 2 child processes, which check the checksum on the device;
//   6. a 3rd child writes through its read-only mapping: it should fault, alone — the 2 readers
//      check their copy again afterwards.
//   7. the readers must have used the method asked for (ONECOPY_GPU_SHARE, else vmm; or
//      --expect-method): a silent fallback (own copy, zero-copy) fails the run, naming both.
// Exit 0 when every check passed, 1 when one failed, 77 (skipped) without a usable GPU.
// Children are spawned with posix_spawn (never fork after CUDA init) and owned by guards: a run
// that throws still stops `onecopy serve` and its readers (--fail-after-serve tests that).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/kernels/device_buffer.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/kernels/kernels.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/units.hpp"

extern char** environ;

using namespace onecopy;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }
double gbps(std::uint64_t bytes, double s) { return s > 0 ? static_cast<double>(bytes) / s / 1e9 : 0; }

// ---- children -----------------------------------------------------------------------------------

struct child {
  pid_t pid = -1;
  int in = -1;   // write end of its stdin
  int out = -1;  // read end of its stdout
};

child spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  child c;
  const int rc = ::posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) throw std::runtime_error(fmt::format("posix_spawn({}): {}", args[0], std::strerror(rc)));
  c.in = in[1];
  c.out = out[0];
  return c;
}

std::string read_line(int fd) {
  std::string line;
  char ch;
  while (::read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
  return line;
}

int finish(child& c) {
  if (c.in >= 0) ::close(c.in);
  c.in = -1;
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.pid = -1;
  if (c.out >= 0) ::close(c.out);
  c.out = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Owns a spawned child: unless finished, the destructor (an exception on the way out) sends
// SIGTERM, waits up to 10 s, then SIGKILLs, and reaps it. No `onecopy serve` outlives us.
class child_guard {
 public:
  explicit child_guard(child c) : c_(c) {}
  child_guard(child_guard&& o) noexcept : c_(o.c_) { o.c_ = {}; }
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;
  child_guard& operator=(child_guard&&) = delete;
  ~child_guard() {
    if (c_.pid <= 0) return;
    ::kill(c_.pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {  // 10 s
      if (::waitpid(c_.pid, &status, WNOHANG) == c_.pid) {
        c_.pid = -1;
        break;
      }
      ::usleep(100'000);
    }
    if (c_.pid > 0) {
      ::kill(c_.pid, SIGKILL);
      (void)::waitpid(c_.pid, &status, 0);
    }
    if (c_.in >= 0) ::close(c_.in);
    if (c_.out >= 0) ::close(c_.out);
  }
  child& get() noexcept { return c_; }
  int finish() { return ::finish(c_); }

 private:
  child c_;
};

// A store directory of our own, removed on the way out however we leave.
struct own_dir_guard {
  std::string path;
  ~own_dir_guard() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// Starts `onecopy serve` on dir; returns its guard and socket path.
std::pair<child_guard, std::string> start_server(const std::string& dir) {
  child_guard server(spawn({ONECOPY_CLI, "serve"}, {"ONECOPY_DIR=" + dir}));
  std::fprintf(stderr, "gpu_smoke: onecopy serve pid %d\n", server.get().pid);
  const std::string ready = read_line(server.get().out);
  const std::string prefix = "onecopy serve: listening on ";
  if (!ready.starts_with(prefix)) throw std::runtime_error("onecopy serve did not start: '" + ready + "'");
  std::string socket = ready.substr(prefix.size());
  socket = socket.substr(0, socket.find(" (pid"));
  return {std::move(server), socket};
}

// The method the readers must have used: --expect-method, else ONECOPY_GPU_SHARE, else vmm.
// "any" accepts every fallback.
std::string expected_method(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("ONECOPY_GPU_SHARE");
  return env != nullptr && *env != '\0' ? env : "vmm";
}

// Child: import the server's copy, check it, then re-check it on every stdin line.
int run_import_child(const std::string& socket, const std::string& name, int device, bool write) {
  json r;
  try {
    auto c = serve::client::connect(socket);
    const auto t = clock_type::now();
    const auto a = c.device_array(name, device);
    r["import_seconds"] = seconds_since(t);
    r["method"] = gpu::to_string(a.method());
    r["read_only"] = a.read_only();
    r["reasons"] = a.reasons();
    r["checksum_ok"] = kernels::checksum(kernels::backend::cuda, {a.data(), a.size()}) == a.checksum();
    if (write) {
      // Only through a read-only mapping: a read-write one (legacy IPC) would corrupt the copy.
      if (a.read_only()) r["write_error"] = gpu::attempt_device_write(a.data());  // "" = it went through
      else r["write_skipped"] = fmt::format("the {} mapping is read-write", gpu::to_string(a.method()));
      std::printf("%s\n", r.dump().c_str());
      std::fflush(stdout);
      return 0;
    }
    std::printf("%s\n", r.dump().c_str());
    std::fflush(stdout);
    std::string line;
    char ch;
    while (::read(0, &ch, 1) == 1) {
      if (ch != '\n') continue;
      const bool ok = kernels::checksum(kernels::backend::cuda, {a.data(), a.size()}) == a.checksum();
      std::printf("%s\n", json({{"recheck_ok", ok}}).dump().c_str());
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    r["error"] = e.what();
    std::printf("%s\n", r.dump().c_str());
    return 1;
  }
}

// ---- the parent ---------------------------------------------------------------------------------

int run(std::uint64_t size, int device, const std::string& self, const std::string& expect) {
  json out;
  out["tool"] = "gpu_smoke";
  const auto& p = gpu::probe();
  out["gpu"] = p;
  if (!p.available) {
    out["skipped"] = true;
    out["reason"] = p.reason;
    std::printf("%s\n", out.dump().c_str());
    return 77;
  }
  bool ok = true;
  auto check = [&](bool cond, const std::string& what) {
    if (!cond) {
      ok = false;
      out["failures"].push_back(what);
    }
  };

  // 1. A segment in a private store (ONECOPY_DIR when set: e.g. a hugetlbfs or THP mount).
  const char* env_dir = std::getenv("ONECOPY_DIR");
  std::string dir = env_dir != nullptr ? env_dir : "";
  own_dir_guard own_dir;
  if (dir.empty()) {
    char tmpl[] = "/dev/shm/onecopy-gpu-smoke.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp in /dev/shm failed");
    dir = tmpl;
    own_dir.path = dir;
  }
  store st = store::at(dir);
  const std::string name = fmt::format("gpu-smoke-{}", ::getpid());
  {
    draft d = st.create(name, layout::array(dtype::u64, {size / 8}));
    auto* w = reinterpret_cast<std::uint64_t*>(d.bytes().data());
    for (std::uint64_t i = 0; i < size / 8; ++i) w[i] = i * 0x9E3779B97F4A7C15ull;
    (void)std::move(d).publish();
  }
  const segment seg = st.attach(name);
  out["size"] = seg.info().data_size;
  out["page_size"] = seg.info().page_size;
  out["backing"] = std::string(to_string(seg.info().backing));
  out["device"] = device;

  // 2-3. Registration, copies and reads.
  {
    const auto reg = gpu::host_registration::of(seg);
    out["register"] = {{"mode", gpu::to_string(reg.mode())}, {"reason", reg.reason()}, {"seconds", reg.seconds()},
                       {"seconds_per_gib", reg.seconds() / (static_cast<double>(seg.info().file_size) / GiB)},
                       {"chunks", reg.chunks().size()}, {"zero_copy_pointer", reg.device_data() != nullptr}};
    auto buf = gpu::device_buffer::allocate(size, device);
    auto t = clock_type::now();
    buf.upload(reg.host_data());
    const double pinned = seconds_since(t);
    std::vector<std::byte> pageable(seg.bytes().begin(), seg.bytes().end());  // touched: no first-fault cost
    t = clock_type::now();
    buf.upload(pageable);
    const double paged = seconds_since(t);
    out["h2d"] = {{"registered_gbps", gbps(size, pinned)}, {"pageable_gbps", gbps(size, paged)}};
    const std::span<const std::byte> on_device(buf.data(), size);
    (void)kernels::reduce(kernels::backend::cuda, dtype::u64, on_device);  // warm-up
    t = clock_type::now();
    (void)kernels::reduce(kernels::backend::cuda, dtype::u64, on_device);
    out["device_read_gbps"] = gbps(size, seconds_since(t));
    check(kernels::checksum(kernels::backend::cuda, on_device) == seg.info().checksum, "checksum of the uploaded copy");
    if (reg.device_data() != nullptr) {
      const std::span<const std::byte> zero_copy(reg.device_data(), size);
      t = clock_type::now();
      const auto r = kernels::reduce(kernels::backend::cuda, dtype::u64, zero_copy);
      out["zero_copy_read_gbps"] = gbps(size, seconds_since(t));
      check(r.count == size / 8, "zero-copy reduce count");
      check(kernels::compare(kernels::backend::cuda, on_device, seg.bytes()).equal, "compare device copy with host");
    }
  }

  // 4. The server makes the device copy.
  auto [server, socket] = start_server(dir);

  // 5. Two readers import it; 6. a writer tries to write through its read-only mapping.
  std::vector<child_guard> readers;
  for (int i = 0; i < 2; ++i)
    readers.emplace_back(spawn({self, "--child", "import", socket, name, std::to_string(device)}));
  json imports = json::array();
  for (auto& r : readers) {
    const json j = json::parse(read_line(r.get().out), nullptr, false);
    imports.push_back(j);
    check(j.is_object() && j.value("checksum_ok", false), "reader checksum");
  }
  // 7. The method asked for, or a failure naming what ran instead.
  json used = json::array();
  for (const auto& j : imports) used.push_back(j.is_object() ? j.value("method", "?") : "?");
  bool method_ok = true;
  for (const auto& m : used) method_ok &= expect == "any" || m.get<std::string>() == expect;
  out["method_check"] = {{"expected", expect}, {"used", used}, {"ok", method_ok}};
  std::fprintf(stderr, "gpu_smoke: readers used %s (expected %s)\n", used.dump().c_str(), expect.c_str());
  check(method_ok, fmt::format("the readers used {} instead of the {} asked for (see imports[].reasons)", used.dump(), expect));
  child_guard writer(spawn({self, "--child", "write", socket, name, std::to_string(device)}));
  const json w = json::parse(read_line(writer.get().out), nullptr, false);
  const int writer_code = writer.finish();
  const bool read_only = w.is_object() && w.value("read_only", false);
  const bool faulted = w.is_object() && !w.value("write_error", std::string()).empty();
  out["writer"] = {{"result", w}, {"exit", writer_code}, {"faulted", faulted}};
  if (read_only) check(faulted, "a write through the read-only mapping did not fault");
  json rechecks = json::array();
  for (auto& r : readers) {
    (void)!::write(r.get().in, "\n", 1);
    const json j = json::parse(read_line(r.get().out), nullptr, false);
    rechecks.push_back(j);
    check(j.is_object() && j.value("recheck_ok", false), "a reader broke after the writer faulted");
  }
  out["imports"] = imports;
  out["rechecks_after_write"] = rechecks;
  for (auto& r : readers) check(r.finish() == 0, "reader exit status");

  try {
    auto c = serve::client::connect(socket);
    out["server_status"] = c.status()["segments"];
  } catch (const std::exception& e) {
    out["server_status_error"] = e.what();
  }
  ::kill(server.get().pid, SIGTERM);
  check(server.finish() == 0, "onecopy serve exit status");
  st.remove(name);
  out["ok"] = ok;
  std::printf("%s\n", out.dump().c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 5 && args[0] == "--child")
      return run_import_child(args[2], args[3], std::stoi(args[4]), args[1] == "write");
    std::uint64_t size = GiB;
    int device = 0;
    std::string expect;
    bool fail_after_serve = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--size" && i + 1 < args.size()) size = parse_size(args[++i]);
      else if (args[i] == "--device" && i + 1 < args.size()) device = std::stoi(args[++i]);
      else if (args[i] == "--expect-method" && i + 1 < args.size()) expect = args[++i];
      else if (args[i] == "--fail-after-serve") fail_after_serve = true;
      else {
        std::fprintf(stderr, "usage: gpu_smoke [--size BYTES (default 1GiB)] [--device N] "
                             "[--expect-method vmm|legacy-ipc|process-copy|zero-copy|any]\n");
        return 2;
      }
    }
    expect = expected_method(expect);
    if (expect != "any" && !gpu::parse_share_method(expect)) {
      std::fprintf(stderr, "gpu_smoke: unknown method '%s' (vmm, legacy-ipc, process-copy, zero-copy, any)\n",
                   expect.c_str());
      return 2;
    }
    if (fail_after_serve) {
      // For the test of the guards (no GPU needed): start the server, then fail.
      const char* env_dir = std::getenv("ONECOPY_DIR");
      if (env_dir == nullptr) throw std::runtime_error("--fail-after-serve needs ONECOPY_DIR");
      auto started = start_server(env_dir);
      throw std::runtime_error("forced failure after starting onecopy serve (--fail-after-serve)");
    }
    size = std::max<std::uint64_t>(size / 8 * 8, 8);
    return run(size, device, std::filesystem::canonical("/proc/self/exe").string(), expect);
  } catch (const std::exception& e) {
    std::printf("%s\n", json({{"tool", "gpu_smoke"}, {"ok", false}, {"error", e.what()}}).dump().c_str());
    return 1;
  }
}
