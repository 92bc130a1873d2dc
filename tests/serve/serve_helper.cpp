// SPDX-License-Identifier: Apache-2.0
// A client process for the serve tests, judged by its output and exit status.
//   hold SOCKET NAME            attach through the server, print "attached <checksum>", then for
//                               each stdin line recompute the checksum and print "ok <checksum>";
//                               exit 0 at EOF
//   ns-attach SOCKET NAME STORE_DIR MOUNT_POINT
//                               (run in a new mount namespace) bind the socket to MOUNT_POINT,
//                               mount a private tmpfs on /dev/shm, check STORE_DIR is gone, attach
//                               through MOUNT_POINT, verify, and print "ok <checksum> <path>"
//   as-uid UID SOCKET           drop to UID (root only), connect; print "refused: <why>" and exit 0
//                               when the server refuses, exit 1 when it accepts
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "onecopy/error.hpp"
#include "onecopy/serve/client.hpp"

using namespace onecopy;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "serve_helper: %s\n", why.c_str());
  return 1;
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

int hold(const std::string& socket, const std::string& name) {
  // A reader of a truncated file must die of the kernel's SIGBUS (the tests check the signal),
  // not of a sanitizer's report of it.
  std::signal(SIGBUS, SIG_DFL);
  auto c = serve::client::connect(socket);
  const segment s = c.attach(name);
  if (!s.verify()) return fail("checksum mismatch after attach");
  std::printf("attached %s\n", hex(s.info().checksum).c_str());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::printf("%s %s\n", s.verify() ? "ok" : "bad", hex(s.compute_checksum()).c_str());
    std::fflush(stdout);
  }
  return 0;
}

int ns_attach(const std::string& socket, const std::string& name, const std::string& store_dir, const std::string& mount_point) {
  if (::mount(socket.c_str(), mount_point.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return fail("bind mount of the socket: " + std::string(std::strerror(errno)));
  if (::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777") != 0)
    return fail("mount tmpfs on /dev/shm: " + std::string(std::strerror(errno)));
  if (::access(store_dir.c_str(), F_OK) == 0 || errno != ENOENT) return fail("the store directory is still visible");
  auto c = serve::client::connect(mount_point);
  const segment s = c.attach(name);
  if (!s.verify()) return fail("checksum mismatch");
  // The fd we were given is read-only: no writable mapping can be made of it.
  void* w = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd(), 0);
  if (w != MAP_FAILED) return fail("a writable mapping of the received fd succeeded");
  std::printf("ok %s %s\n", hex(s.info().checksum).c_str(), s.path().c_str());
  return 0;
}

int as_uid(const std::string& uid_text, const std::string& socket) {
  const auto uid = static_cast<uid_t>(std::stoul(uid_text));
  if (::setgid(uid) != 0 || ::setuid(uid) != 0) return fail("setuid: " + std::string(std::strerror(errno)));
  try {
    auto c = serve::client::connect(socket);
  } catch (const permission_error& e) {
    std::printf("refused: %s\n", e.what());
    return 0;
  }
  return fail("the server accepted uid " + uid_text);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "hold" && argc == 4) return hold(argv[2], argv[3]);
    if (mode == "ns-attach" && argc == 6) return ns_attach(argv[2], argv[3], argv[4], argv[5]);
    if (mode == "as-uid" && argc == 4) return as_uid(argv[2], argv[3]);
    std::fprintf(stderr, "usage: serve_helper hold SOCKET NAME | ns-attach SOCKET NAME STORE_DIR MOUNT_POINT | as-uid UID SOCKET\n");
    return 2;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
