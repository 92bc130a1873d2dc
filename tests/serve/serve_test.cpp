// SPDX-License-Identifier: Apache-2.0
// `onecopy serve` for real: a server process on a private store, clients in this process, in
// child processes and in another mount namespace; leases that end with their client, mappings
// that outlive the server, and bad requests that hurt nobody else.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/serve/server.hpp"
#include "onecopy/units.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// ---- a raw protocol client: frames by hand, so malformed ones can be sent ----------------------

class raw_client {
 public:
  explicit raw_client(const std::filesystem::path& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send_bytes(const std::string& bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  static std::string frame(const std::string& body, std::uint32_t length) {
    std::string out(4, '\0');
    for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
    return out + body;
  }
  void send_json(const json& j) const {
    const std::string body = j.dump();
    send_bytes(frame(body, static_cast<std::uint32_t>(body.size())));
  }

  struct reply {
    json body;
    int fd = -1;  // owned by the caller
  };
  // One reply frame (and the fd that came with it), or a null body at EOF.
  reply receive() const {
    reply r;
    std::string buf;
    std::uint32_t need = 0;
    while (buf.size() < 4 || buf.size() < 4 + std::size_t{need}) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10'000) != 1) throw std::runtime_error("no reply within 10 s");
      char chunk[65536];
      iovec iov{chunk, sizeof chunk};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      // Never read past this frame: at most the 4-byte prefix, then at most the rest.
      iov.iov_len = std::min(sizeof chunk, buf.size() < 4 ? 4 - buf.size() : 4 + need - buf.size());
      const ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) return r;  // EOF
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_type == SCM_RIGHTS) std::memcpy(&r.fd, CMSG_DATA(c), sizeof(int));
      buf.append(chunk, static_cast<std::size_t>(n));
      if (buf.size() >= 4) {
        need = 0;
        for (int i = 0; i < 4; ++i) need |= static_cast<std::uint32_t>(static_cast<unsigned char>(buf[static_cast<std::size_t>(i)])) << (8 * i);
      }
    }
    r.body = json::parse(buf.substr(4));
    return r;
  }
  json request(const json& j) const {
    send_json(j);
    auto r = receive();
    if (r.fd >= 0) ::close(r.fd);
    return r.body;
  }
  [[nodiscard]] bool at_eof() const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
};

std::string error_code(const json& reply) { return reply.value("ok", true) ? "" : reply["error"].value("code", "?"); }

// ---- fixture: a store with one segment and a running server -----------------------------------

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<test::temp_dir>();
    store s = store::at(dir_->path());
    draft d = s.create("weights", layout::array(dtype::f32, {3, 100'001}));
    auto b = d.bytes();
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>(i * 131 + 7);
    checksum_ = std::move(d).publish().info().checksum;
    start_server();
  }
  void TearDown() override {
    stop_server();
    dir_.reset();
  }

  std::map<std::string, std::string> env() const { return {{"ONECOPY_DIR", dir_->path().string()}}; }

  void start_server(const std::vector<std::string>& extra = {}, std::map<std::string, std::string> more_env = {}) {
    std::vector<std::string> argv = {test::built("onecopy").string(), "serve"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto e = env();
    e.insert(more_env.begin(), more_env.end());
    server_ = test::spawn(argv, e, {.capture_stdout = true, .capture_stderr = true});
    const std::string ready = test::read_line(server_.stdout_fd);
    ASSERT_TRUE(ready.starts_with("onecopy serve: listening on ")) << "server said: '" << ready << "'";
    const auto path = ready.substr(std::strlen("onecopy serve: listening on "));
    socket_ = path.substr(0, path.find(" (pid"));
    gpu_line_ = test::read_line(server_.stderr_fd);
  }
  // SIGTERM, then the exit status (0 for a clean stop).
  int stop_server() {
    if (server_.pid <= 0) return 0;
    ::kill(server_.pid, SIGTERM);
    const int code = test::exit_code(test::wait_for(server_.pid, 30s));
    ::close(server_.stdout_fd);
    ::close(server_.stderr_fd);
    server_ = {};
    return code;
  }

  // Polls status until pred holds or 10 s pass.
  template <class Pred>
  bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    auto c = serve::client::connect(socket_);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(c.status())) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::unique_ptr<test::temp_dir> dir_;
  std::uint64_t checksum_ = 0;
  test::child server_;
  std::filesystem::path socket_;
  std::string gpu_line_;
};

TEST_F(ServeTest, TheServerSaysWhatGpuItHasInOneLineAndServesAnyway) {
  EXPECT_EQ(socket_, dir_->path() / ".locks" / "serve.sock");
  if (gpu::probe().available) {
    EXPECT_TRUE(gpu_line_.starts_with("onecopy serve: CUDA: runtime")) << gpu_line_;
  } else {
    EXPECT_TRUE(gpu_line_.starts_with("onecopy serve: " + gpu::probe().reason)) << gpu_line_;
    EXPECT_TRUE(gpu_line_.ends_with("; serving host segments only")) << gpu_line_;
  }
  auto c = serve::client::connect(socket_);
  EXPECT_EQ(c.server_info()["server"], "onecopy");
  EXPECT_EQ(c.server_info()["client"]["pid"], ::getpid());
  EXPECT_EQ(stop_server(), 0);
  EXPECT_FALSE(std::filesystem::exists(socket_)) << "a clean stop removes the socket";
}

TEST_F(ServeTest, AClientAttachesFromAReadOnlyFdWithoutTheStorePath) {
  auto c = serve::client::connect(socket_);
  const segment s = c.attach("weights");
  EXPECT_EQ(s.info().checksum, checksum_);
  EXPECT_TRUE(s.verify());
  EXPECT_TRUE(s.path().string().starts_with("/proc/self/fd/")) << s.path();
  EXPECT_EQ(::fcntl(s.fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
  // Neither a writable mapping of the fd nor write access to the mapping is possible.
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EACCES);
  auto* page = const_cast<std::byte*>(s.bytes().data()) - s.info().data_offset;
  EXPECT_NE(::mprotect(page, 4096, PROT_READ | PROT_WRITE), 0);
  // The same inode as the store's file: one copy, not two.
  struct stat a {}, b {};
  ASSERT_EQ(::fstat(s.fd(), &a), 0);
  ASSERT_EQ(::stat((dir_->path() / "weights").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_THROW((void)c.attach("missing"), os_error);
  EXPECT_THROW((void)c.attach("../etc/passwd"), serve::protocol_error);
}

TEST_F(ServeTest, AClientInAnotherMountNamespaceWithAPrivateDevShmAttaches) {
  if (!test::is_root()) GTEST_SKIP() << "needs root for unshare -m and mounts";
  test::temp_dir mnt("/tmp", "onecopy-ns");
  const auto mount_point = mnt.path() / "sock";
  std::ofstream(mount_point).put('\0');
  const auto r = test::run({"/usr/bin/unshare", "-m", "--propagation", "private", test::built("tests/serve/serve_helper").string(),
                            "ns-attach", socket_.string(), "weights", dir_->path().string(), mount_point.string()});
  if (r.code != 0 && r.err.find("unshare failed") != std::string::npos) GTEST_SKIP() << "unshare -m refused: " << r.err;
  ASSERT_EQ(r.code, 0) << r.err;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(checksum_));
  EXPECT_TRUE(r.out.starts_with(std::string("ok ") + hex + " /proc/self/fd/")) << r.out;
}

TEST_F(ServeTest, AClientThatDiesReleasesItsLease) {
  test::child holder = test::spawn({test::built("tests/serve/serve_helper").string(), "hold", socket_.string(), "weights"},
                                   {}, {.capture_stdout = true, .stdin_pipe = true});
  ASSERT_TRUE(test::read_line(holder.stdout_fd).starts_with("attached "));
  auto has_holder = [&](const json& st) {
    for (const auto& c : st["connections"])
      if (c["pid"] == holder.pid) return c["leases"].size() == 1 && c["leases"][0]["segment"] == "weights";
    return false;
  };
  EXPECT_TRUE(eventually(has_holder));
  ::kill(holder.pid, SIGKILL);
  EXPECT_EQ(test::exit_code(test::wait_for(holder.pid)), -SIGKILL);
  EXPECT_TRUE(eventually([&](const json& st) {
    for (const auto& c : st["connections"])
      if (c["pid"] == holder.pid) return false;
    for (const auto& e : st["segments"])
      if (e["leases"] != 0) return false;
    return true;
  })) << "the dead client's connection and lease are still there";
  ::close(holder.stdout_fd);
  ::close(holder.stdin_fd);
}

TEST_F(ServeTest, AServerThatDiesLeavesClientMappingsValidAndANewOneTakesOver) {
  test::child holder = test::spawn({test::built("tests/serve/serve_helper").string(), "hold", socket_.string(), "weights"},
                                   {}, {.capture_stdout = true, .stdin_pipe = true});
  const std::string attached = test::read_line(holder.stdout_fd);
  ASSERT_TRUE(attached.starts_with("attached ")) << attached;
  ::kill(server_.pid, SIGKILL);
  EXPECT_EQ(test::exit_code(test::wait_for(server_.pid)), -SIGKILL);
  ::close(server_.stdout_fd);
  ::close(server_.stderr_fd);
  server_ = {};
  // The client still reads every byte through its mapping.
  ASSERT_EQ(::write(holder.stdin_fd, "check\n", 6), 6);
  EXPECT_EQ(test::read_line(holder.stdout_fd), "ok " + attached.substr(9));
  ::close(holder.stdin_fd);
  EXPECT_EQ(test::exit_code(test::wait_for(holder.pid)), 0);
  ::close(holder.stdout_fd);
  // The dead server left its socket file behind; the next server replaces it.
  EXPECT_TRUE(std::filesystem::exists(socket_));
  start_server();
  auto c = serve::client::connect(socket_);
  EXPECT_TRUE(c.attach("weights").verify());
}

TEST_F(ServeTest, AClientNoticesTheServersDeathAtOnce) {
  // What a legacy-IPC device array asks in valid(): its memory is the server's cudaMalloc.
  auto c = serve::client::connect(socket_);
  EXPECT_TRUE(c.server_alive());
  (void)c.status();
  EXPECT_TRUE(c.server_alive()) << "a request and its reply are no EOF";
  ::kill(server_.pid, SIGKILL);
  EXPECT_EQ(test::exit_code(test::wait_for(server_.pid)), -SIGKILL);
  ::close(server_.stdout_fd);
  ::close(server_.stderr_fd);
  server_ = {};
  EXPECT_FALSE(c.server_alive());
  EXPECT_FALSE(c.server_alive()) << "EOF is final";
}

TEST_F(ServeTest, AStoppedServerWithoutLegacyImportersExitsAtOnceAndStatusShowsItsGpus) {
  auto c = serve::client::connect(socket_);
  const json st = c.status();
  EXPECT_EQ(st["stopping"], false);
  EXPECT_EQ(st["gpu"]["available"], gpu::probe().available);
  EXPECT_EQ(st["gpu"]["cuda_architectures"], std::string(gpu::compiled_cuda_architectures()));
  // Host leases never hold the server: SIGTERM with a client still connected stops it.
  const segment s = c.attach("weights");
  const json connections = c.status()["connections"];  // a named copy: a range-for over a temporary's member dangles
  for (const auto& conn : connections)
    for (const auto& l : conn["leases"]) EXPECT_EQ(l["needs_server"], false);
  EXPECT_EQ(stop_server(), 0);
  EXPECT_FALSE(c.server_alive());
  EXPECT_TRUE(s.verify()) << "the host mapping outlives the server";
}

TEST_F(ServeTest, MalformedAndOversizedRequestsGetErrorsAndOthersAreStillServed) {
  // A client stuck halfway through a frame must not block anyone.
  raw_client stuck(socket_);
  const json hello = {{"v", 1}, {"op", "hello"}, {"id", 7}};
  const std::string hello_frame = raw_client::frame(hello.dump(), static_cast<std::uint32_t>(hello.dump().size()));
  stuck.send_bytes(hello_frame.substr(0, 2));

  raw_client bad(socket_);
  bad.send_bytes(raw_client::frame("not json", 8));
  EXPECT_EQ(error_code(bad.receive().body), "bad_json");
  EXPECT_EQ(error_code(bad.request({1, 2, 3})), "bad_request");
  EXPECT_EQ(error_code(bad.request({{"op", "hello"}})), "bad_request");  // no version
  EXPECT_EQ(error_code(bad.request({{"v", 2}, {"op", "hello"}})), "unsupported_version");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "format-disk"}})), "unknown_op");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "attach"}})), "bad_request");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "attach"}, {"segment", 42}})), "bad_request");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "attach"}, {"segment", "../../etc/shadow"}})), "bad_request");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "attach"}, {"segment", "missing"}})), "not_found");
  std::string accents = "a";
  for (int i = 0; i < 70; ++i) accents += "\xc3\xa9";  // é: the error message cuts it mid-character
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "attach"}, {"segment", accents}})), "bad_request");
  EXPECT_EQ(error_code(bad.request({{"v", 1}, {"op", "release"}, {"lease", 99}})), "no_such_lease");
  // The same connection still works, and echoes ids.
  const json ok = bad.request(hello);
  EXPECT_TRUE(ok.value("ok", false)) << ok.dump();
  EXPECT_EQ(ok["id"], 7);

  // An oversized frame: an error reply, then this connection (only) is closed.
  raw_client huge(socket_);
  huge.send_bytes(raw_client::frame("", 1u << 20));
  EXPECT_EQ(error_code(huge.receive().body), "bad_frame");
  EXPECT_TRUE(huge.at_eof());
  raw_client empty(socket_);
  empty.send_bytes(raw_client::frame("", 0));
  EXPECT_EQ(error_code(empty.receive().body), "bad_frame");

  // Everyone else is served: a new client, and the stuck one once it finishes its frame.
  auto c = serve::client::connect(socket_);
  EXPECT_TRUE(c.attach("weights").verify());
  stuck.send_bytes(hello_frame.substr(2));
  EXPECT_TRUE(stuck.receive().body.value("ok", false));
}

TEST_F(ServeTest, LeasesCarryGenerationsAndCanBeReleased) {
  raw_client c(socket_);
  c.send_json({{"v", 1}, {"op", "attach"}, {"segment", "weights"}});
  auto r = c.receive();
  ASSERT_TRUE(r.body.value("ok", false)) << r.body.dump();
  ASSERT_GE(r.fd, 0) << "no fd came with the attach reply";
  EXPECT_EQ(::fcntl(r.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  ::close(r.fd);
  EXPECT_EQ(r.body["generation"], 1);
  EXPECT_EQ(r.body["checksum"], checksum_);

  // Republishing the name makes a new generation; the old one stays leased.
  store s = store::at(dir_->path());
  create_options replace;
  replace.replace = true;
  draft d = s.create("weights", layout::bytes(4096), replace);
  (void)std::move(d).publish();
  const json second = c.request({{"v", 1}, {"op", "attach"}, {"segment", "weights"}});
  EXPECT_EQ(second["generation"], 2);
  EXPECT_EQ(second["data_size"], 4096);

  const json released = c.request({{"v", 1}, {"op", "release"}, {"lease", r.body["lease"]}});
  EXPECT_TRUE(released.value("ok", false)) << released.dump();
  EXPECT_EQ(error_code(c.request({{"v", 1}, {"op", "release"}, {"lease", r.body["lease"]}})), "no_such_lease");
}

TEST_F(ServeTest, ASecondServerOnTheSameStoreIsRefused) {
  const auto r = test::run({test::built("onecopy").string(), "serve"}, env());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already served by pid " + std::to_string(server_.pid)), std::string::npos) << r.err;
}

TEST_F(ServeTest, StatusShowsClientsAndLeases) {
  auto c = serve::client::connect(socket_);
  const segment s = c.attach("weights");
  const auto r = test::run({test::built("onecopy").string(), "serve", "--status", "--json"}, env());
  ASSERT_EQ(r.code, 0) << r.err;
  const json st = json::parse(r.out);
  EXPECT_EQ(st["pid"], server_.pid);
  bool found = false;
  for (const auto& conn : st["connections"])
    if (conn["pid"] == ::getpid()) found = conn["leases"].size() == 1;
  EXPECT_TRUE(found) << st.dump(2);
  const auto text = test::run({test::built("onecopy").string(), "serve", "--status"}, env());
  EXPECT_NE(text.out.find("segment 'weights' generation 1: 1 lease"), std::string::npos) << text.out;
}

TEST_F(ServeTest, DeviceRequestsWithoutAGpuSayWhy) {
  if (gpu::probe().available) GTEST_SKIP() << "a GPU is present: kernels_gpu_test covers device copies";
  raw_client c(socket_);
  const json r = c.request({{"v", 1}, {"op", "device"}, {"segment", "weights"}, {"device", "GPU-x"}});
  EXPECT_EQ(error_code(r), "gpu_unavailable");
  EXPECT_EQ(r["error"]["message"], gpu::probe().reason);
  auto client = serve::client::connect(socket_);
  EXPECT_THROW((void)client.device_array("weights"), gpu::gpu_error);
}

TEST_F(ServeTest, ServerDeviceArrayGivesTheServersReasonFirst) {
  if (gpu::probe().available) GTEST_SKIP() << "a GPU is present: kernels_gpu_test covers device copies";
  auto client = serve::client::connect(socket_);
  try {
    (void)client.server_device_array("weights", 0);
    ADD_FAILURE() << "a server without a GPU made a device copy";
  } catch (const gpu::gpu_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("device copy of 'weights' on cuda:0 from onecopy serve at " + socket_.string()), std::string::npos) << what;
    EXPECT_NE(what.find("the server has no usable GPU: " + gpu::probe().reason), std::string::npos) << what;
  }
  EXPECT_TRUE(client.server_alive()) << "a refusal made before any request leaves the connection as it was";
}

TEST(ServeGpuOffTest, OnecopyGpuOffSkipsCudaEntirely) {
  if (!gpu::probe().built_with_cuda) GTEST_SKIP() << "built without CUDA";
  test::temp_dir dir;
  auto server = test::spawn({test::built("onecopy").string(), "serve"},
                            {{"ONECOPY_DIR", dir.path().string()}, {"ONECOPY_GPU", "off"}},
                            {.capture_stdout = true, .capture_stderr = true});
  EXPECT_TRUE(test::read_line(server.stdout_fd).starts_with("onecopy serve: listening on "));
  EXPECT_EQ(test::read_line(server.stderr_fd), "onecopy serve: disabled by ONECOPY_GPU=off; serving host segments only");
  ::kill(server.pid, SIGTERM);
  EXPECT_EQ(test::exit_code(test::wait_for(server.pid)), 0);
  ::close(server.stdout_fd);
  ::close(server.stderr_fd);
}

TEST(ServePeerTest, PeersOfAnotherUidAreRefused) {
  if (!test::is_root()) GTEST_SKIP() << "needs root to run a client as another uid";
  test::temp_dir store_dir;
  test::temp_dir open_dir("/tmp", "onecopy-sock");  // reachable by the other uid
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0755), 0);
  const auto socket = open_dir.path() / "s.sock";
  auto server = test::spawn({test::built("onecopy").string(), "serve", "--socket", socket.string()},
                            {{"ONECOPY_DIR", store_dir.path().string()}}, {.capture_stdout = true});
  ASSERT_TRUE(test::read_line(server.stdout_fd).starts_with("onecopy serve: listening on "));
  ASSERT_EQ(::chmod(socket.c_str(), 0666), 0);
  const auto r = test::run({test::built("tests/serve/serve_helper").string(), "as-uid", "65534", socket.string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("uid 65534 may not use this server"), std::string::npos) << r.out;
  ::kill(server.pid, SIGTERM);
  EXPECT_EQ(test::exit_code(test::wait_for(server.pid)), 0);
  ::close(server.stdout_fd);
}

}  // namespace
}  // namespace onecopy
