// SPDX-License-Identifier: Apache-2.0
// `onecopy serve` for real: a server process on a private store, clients in this process, in
// child processes and in another mount namespace; leases that end with their client, mappings
// that outlive the server, and bad requests that hurt nobody else.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/serve/server.hpp"
#include "onecopy/units.hpp"
#include "serve_fixture.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using namespace serve_test;

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

TEST(ServePidFileTest, ASymlinkOrFifoAtThePidFileIsRefusedAndNothingIsWrittenOutside) {
  test::temp_dir dir;
  const auto locks = dir.path() / ".locks";
  ASSERT_EQ(::mkdir(locks.c_str(), 0700), 0);
  const auto pid_file = locks / "serve.sock.pid";
  test::temp_dir outside;
  const auto target = outside.path() / "planted";
  std::filesystem::create_symlink(target, pid_file);
  const std::map<std::string, std::string> env = {{"ONECOPY_DIR", dir.path().string()}};
  auto r = test::run({test::built("onecopy").string(), "serve"}, env);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(pid_file.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(target)) << "the server created a file through the planted symlink";
  // A FIFO would block a plain open forever: refused at once instead.
  std::filesystem::remove(pid_file);
  ASSERT_EQ(::mkfifo(pid_file.c_str(), 0600), 0);
  r = test::run({test::built("onecopy").string(), "serve"}, env);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(pid_file.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("FIFO"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(locks / "serve.sock")) << "a refused server left a socket";
}

}  // namespace
}  // namespace onecopy
