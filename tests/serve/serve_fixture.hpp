// SPDX-License-Identifier: Apache-2.0
// What the serve tests share: a raw protocol client (frames by hand, so malformed ones can be
// sent) and a fixture with a private store holding one segment and a running `onecopy serve`.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/serve/client.hpp"
#include "support/test_support.hpp"

namespace onecopy::serve_test {

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

inline std::string error_code(const json& reply) { return reply.value("ok", true) ? "" : reply["error"].value("code", "?"); }

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

}  // namespace onecopy::serve_test
