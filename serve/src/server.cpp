// SPDX-License-Identifier: Apache-2.0
// The owner process: singleton lock, socket, single-threaded poll loop, protocol v1 requests,
// leases per connection, and the segments, registrations and device copies it holds for them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <deque>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "onecopy/engine/names.hpp"
#include "onecopy/engine/sealed_copy.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/serve/server.hpp"
#include "onecopy/sys/calls.hpp"
#include "messages.hpp"
#include "unix_socket.hpp"

namespace onecopy::serve {

using nlohmann::json;
using detail::request_error;

namespace {

// A client that does not read its replies is dropped once this much is queued for it.
constexpr std::size_t max_queued_reply_bytes = 4 * std::size_t{max_reply_bytes};

struct lease {
  std::uint64_t id = 0;
  std::string segment;
  std::uint64_t generation = 0;
  std::string kind;    // "host" or "device"
  std::string device;  // uuid, for device leases
  bool needs_server = false;  // a legacy-IPC import: our cudaMalloc must outlive it
};

// One reply waiting to be written; its fd goes with its first byte.
struct pending_reply {
  std::string bytes;
  std::size_t offset = 0;
  sys::unique_fd fd;
};

struct connection {
  sys::unique_fd fd;
  detail::peer_credentials peer;
  std::string in;
  std::deque<pending_reply> out;
  std::size_t queued = 0;
  std::vector<lease> leases;
  bool closing = false;  // close once the queued replies are written
};

// One published file by name and generation, with what the server made of it.
struct entry {
  std::string name;
  std::uint64_t generation = 0;
  std::uint64_t device = 0, inode = 0;
  segment seg;
  std::optional<gpu::host_registration> registration;
  std::map<std::string, gpu::device_copy> copies;  // by device uuid
  unsigned leases = 0;
  bool current = true;  // the name still names this file, as far as we know
  bool sealed = false;  // our own sealed memfd copy (seal): served instead of the store's file
};

}  // namespace

struct server::impl {
  store st;
  server_options opts;
  std::filesystem::path socket;
  sys::unique_fd lock_fd;
  sys::unique_fd listen_fd;
  sys::unique_fd wake_fd;
  sys::unique_fd signal_fd;
  sigset_t old_mask{};
  bool restore_mask = false;
  std::atomic<bool> stopping{false};
  bool draining = false;  // stopping, but legacy-IPC importers still map our memory
  std::vector<std::unique_ptr<connection>> conns;
  std::vector<std::unique_ptr<entry>> entries;
  std::map<std::string, std::uint64_t> generations;
  std::uint64_t next_lease = 1;

  impl(store s, server_options o) : st(std::move(s)), opts(std::move(o)) {}
  ~impl();

  void log(const std::string& line) const {
    if (opts.verbose) fmt::print(stderr, "onecopy serve: {}\n", line);
  }

  void take_singleton_lock();
  void accept_all();
  void read_from(connection& c);
  void handle_frame(connection& c, const std::string& body);
  json handle(connection& c, const json& req, sys::unique_fd& pass);
  json hello(const connection& c) const;
  json attach(connection& c, const std::string& name, sys::unique_fd& pass);
  json device(connection& c, const std::string& name, const std::string& uuid, sys::unique_fd& pass);
  json release(connection& c, std::uint64_t id);
  json seal(const std::string& name, bool keep_store_file);
  json unseal(const std::string& name);
  entry* sealed_entry(const std::string& name);
  json status() const;
  entry& current_entry(const std::string& name);
  void unlease(const lease& l);
  void drop_unused();
  [[nodiscard]] std::size_t legacy_importers() const;
  void begin_drain();
  void queue(connection& c, const json& reply, sys::unique_fd fd = {});
  void flush(connection& c);
  void close(connection& c);
};

// ---- setup and teardown -----------------------------------------------------------------------

void server::impl::take_singleton_lock() {
  const std::filesystem::path pid_path = socket.string() + ".pid";
  // Opened as the store opens its files (the pid file sits in the store's .locks): relative to
  // the directory, never through a symlink, never blocking on a planted FIFO, and only a regular
  // file of ours, so nothing planted there can hang us or make us write outside.
  const std::filesystem::path dir = pid_path.has_parent_path() ? pid_path.parent_path() : ".";
  const sys::unique_fd dir_fd = sys::open_directory_if_exists(dir, "serve's pid file");
  if (!dir_fd) throw os_error(ENOENT, fmt::format("serve {}: directory {} does not exist", socket.string(), dir.string()));
  lock_fd = sys::open_regular_at(dir_fd.get(), dir, pid_path.filename().string(), O_RDWR | O_CREAT, 0600);
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) sys::throw_errno(fmt::format("flock({})", pid_path.string()));
    char text[32] = {};
    const std::size_t n = sys::pread_full(lock_fd.get(), text, sizeof text - 1, 0, pid_path);
    const std::string pid = n == 0 ? "?" : std::string(text, n);
    throw os_error(EADDRINUSE, fmt::format("serve {}: already served by pid {} (lock {})", socket.string(),
                                           pid.substr(0, pid.find('\n')), pid_path.string()));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  sys::truncate(lock_fd.get(), 0, pid_path);
  // The pid is for messages only (the lock is what counts): a store directory on hugetlbfs
  // (ONECOPY_DIR) takes no write(2), EINVAL, and a second server then says "pid ?".
  if (::pwrite(lock_fd.get(), pid.data(), pid.size(), 0) < 0 && errno != EINVAL)
    sys::throw_errno(fmt::format("write({})", pid_path.string()));
}

server::server(store s, server_options opts) : impl_(std::make_unique<impl>(std::move(s), std::move(opts))) {
  impl& m = *impl_;
  m.socket = m.opts.socket.empty() ? m.st.runtime_dir() / std::string(socket_name) : m.opts.socket;
  m.take_singleton_lock();
  // We hold the lock: any socket file left is a dead server's.
  if (::unlink(m.socket.c_str()) != 0 && errno != ENOENT) sys::throw_errno(fmt::format("unlink({})", m.socket.string()));
  m.listen_fd = detail::listen_unix(m.socket, 128);
  m.wake_fd = sys::unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!m.wake_fd) sys::throw_errno("eventfd");
  if (m.opts.handle_signals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (::pthread_sigmask(SIG_BLOCK, &set, &m.old_mask) != 0) sys::throw_errno("pthread_sigmask");
    m.restore_mask = true;
    m.signal_fd = sys::unique_fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!m.signal_fd) sys::throw_errno("signalfd(SIGINT, SIGTERM)");
  }
  m.log(fmt::format("listening on {} (pid {})", m.socket.string(), ::getpid()));
}

server::impl::~impl() {
  conns.clear();
  entries.clear();  // device copies and registrations go before the segments they came from
  if (listen_fd) (void)::unlink(socket.c_str());
  if (restore_mask) (void)::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

server::server(server&&) noexcept = default;
server& server::operator=(server&&) noexcept = default;
server::~server() = default;

const std::filesystem::path& server::socket_path() const noexcept { return impl_->socket; }

void server::stop() noexcept {
  impl_->stopping = true;
  const std::uint64_t one = 1;
  (void)!::write(impl_->wake_fd.get(), &one, sizeof one);
}

// ---- the loop ---------------------------------------------------------------------------------

void server::run() {
  impl& m = *impl_;
  std::chrono::steady_clock::time_point drain_deadline{};
  for (;;) {
    if (m.stopping && !m.draining) {
      // Legacy-IPC importers map our cudaMalloc: freeing it under them is undefined behaviour
      // (cuda_runtime_api.h, cudaIpcOpenMemHandle). Wait for them; VMM importers need nothing.
      if (m.legacy_importers() == 0) break;
      m.begin_drain();
      drain_deadline = std::chrono::steady_clock::now() + m.opts.legacy_drain_timeout;
    }
    if (m.draining) {
      if (m.legacy_importers() == 0) {
        m.log("the last legacy-IPC importer is gone, stopping");
        break;
      }
      if (std::chrono::steady_clock::now() >= drain_deadline) {
        m.log(fmt::format("{} legacy-IPC importer(s) still mapped after {} s: stopping anyway (their mappings "
                          "become invalid)", m.legacy_importers(), m.opts.legacy_drain_timeout.count()));
        break;
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({m.listen_fd ? m.listen_fd.get() : -1, POLLIN, 0});
    fds.push_back({m.wake_fd.get(), POLLIN, 0});
    fds.push_back({m.signal_fd ? m.signal_fd.get() : -1, POLLIN, 0});
    for (const auto& c : m.conns) {
      short events = c->closing ? 0 : POLLIN;
      if (!c->out.empty()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), m.draining ? 200 : -1) < 0) {
      if (errno == EINTR) continue;
      sys::throw_errno("poll");
    }
    if (fds[1].revents != 0 || fds[2].revents != 0) {
      if (fds[2].revents != 0) {
        // Consume it: once the old mask is restored, a still-pending SIGTERM would kill us.
        signalfd_siginfo info{};
        (void)!::read(m.signal_fd.get(), &info, sizeof info);
        m.log(fmt::format("signal {} received, stopping", info.ssi_signo));
        if (m.draining) break;  // a second signal: stop now
      }
      if (fds[1].revents != 0) {
        std::uint64_t n = 0;
        (void)!::read(m.wake_fd.get(), &n, sizeof n);
      }
      m.stopping = true;
      continue;
    }
    // Connections first (their indexes match fds), then new ones.
    for (std::size_t i = 0; i < m.conns.size(); ++i) {
      connection& c = *m.conns[i];
      const short re = fds[3 + i].revents;
      if ((re & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.closing) m.read_from(c);
      if (!c.out.empty() && c.fd) m.flush(c);
      if (c.fd && c.closing && c.out.empty()) m.close(c);
      if (c.fd && (re & (POLLERR | POLLNVAL)) != 0) m.close(c);
    }
    std::erase_if(m.conns, [](const std::unique_ptr<connection>& c) { return !c->fd; });
    m.drop_unused();
    if (fds[0].revents != 0 && m.listen_fd) m.accept_all();
  }
}

void server::impl::accept_all() {
  for (;;) {
    sys::unique_fd fd(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      if (errno == EMFILE || errno == ENFILE) {
        log(fmt::format("accept4: {} (connection left waiting)", sys::errno_text(errno)));
        return;
      }
      sys::throw_errno(fmt::format("accept4({})", socket.string()));
    }
    auto c = std::make_unique<connection>();
    c->fd = std::move(fd);
    try {
      c->peer = detail::peer_of(c->fd.get());
    } catch (const std::exception& e) {
      log(fmt::format("dropped a connection: {}", e.what()));  // unknown peer: not served
      continue;
    }
    const uid_t me = ::geteuid();
    if (c->peer.uid != me && c->peer.uid != 0) {
      // SO_PEERCRED is what the kernel saw at connect(): not forgeable by the client.
      queue(*c, detail::error_reply(nullptr, "permission_denied",
                                    fmt::format("uid {} may not use this server (it serves uid {} and root)",
                                                c->peer.uid, me)));
      c->closing = true;
      log(fmt::format("refused pid {} uid {}", c->peer.pid, c->peer.uid));
    } else if (conns.size() >= opts.max_clients) {
      queue(*c, detail::error_reply(nullptr, "too_many_clients",
                                    fmt::format("{} clients are connected (the limit)", conns.size())));
      c->closing = true;
    } else {
      log(fmt::format("connection from pid {} uid {}", c->peer.pid, c->peer.uid));
    }
    flush(*c);
    if (c->fd && c->closing && c->out.empty()) continue;  // refused and told: done
    conns.push_back(std::move(c));
  }
}

void server::impl::read_from(connection& c) {
  char buf[64 * 1024];
  std::vector<sys::unique_fd> stray;  // clients have no business sending fds: closed on return
  const ssize_t n = detail::recv_some(c.fd.get(), buf, sizeof buf, stray, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    close(c);
    return;
  }
  if (n == 0) {  // the client closed or died: its leases end
    close(c);
    return;
  }
  c.in.append(buf, static_cast<std::size_t>(n));
  while (!c.closing && c.in.size() >= 4) {
    const std::uint32_t len = detail::decode_length(reinterpret_cast<const unsigned char*>(c.in.data()));
    if (len == 0 || len > max_request_bytes) {
      // The framing cannot be trusted after this: answer, then close this connection only.
      queue(c, detail::error_reply(nullptr, "bad_frame",
                                   fmt::format("a request frame of {} bytes (allowed 1-{}); closing", len,
                                               max_request_bytes)));
      c.closing = true;
      c.in.clear();
      break;
    }
    if (c.in.size() < 4 + std::size_t{len}) break;
    const std::string body = c.in.substr(4, len);
    c.in.erase(0, 4 + std::size_t{len});
    handle_frame(c, body);
  }
}

void server::impl::handle_frame(connection& c, const std::string& body) {
  const json req = json::parse(body, nullptr, false);
  if (req.is_discarded()) {
    queue(c, detail::error_reply(nullptr, "bad_json", "the request is not valid JSON"));
    return;
  }
  const json id = req.is_object() && req.contains("id") ? req["id"] : json(nullptr);
  sys::unique_fd pass;
  json reply;
  try {
    reply = handle(c, req, pass);
  } catch (const request_error& e) {
    reply = detail::error_reply(id, e.code, e.message);
  } catch (const usage_error& e) {
    reply = detail::error_reply(id, "bad_request", e.what());
  } catch (const os_error& e) {
    reply = detail::error_reply(id, e.err() == ENOENT ? "not_found" : "os_error", e.what());
  } catch (const format_error& e) {
    reply = detail::error_reply(id, "bad_segment", e.what());
  } catch (const gpu::gpu_error& e) {
    reply = detail::error_reply(id, "gpu_error", e.what());
  } catch (const std::exception& e) {
    reply = detail::error_reply(id, "internal", e.what());
  }
  if (!reply.value("ok", false)) pass.reset();
  log(fmt::format("pid {}: {} → {}", c.peer.pid, body.substr(0, 200), reply.value("ok", false) ? "ok" : reply["error"].dump(-1, ' ', false, json::error_handler_t::replace)));
  queue(c, reply, std::move(pass));
}

json server::impl::handle(connection& c, const json& req, sys::unique_fd& pass) {
  const detail::request r = detail::parse_request(req);
  json body;
  switch (r.op) {
    case detail::op_kind::hello: body = hello(c); break;
    case detail::op_kind::attach: body = attach(c, r.segment, pass); break;
    case detail::op_kind::device: body = device(c, r.segment, r.device, pass); break;
    case detail::op_kind::release: body = release(c, r.lease); break;
    case detail::op_kind::status: body = status(); break;
    case detail::op_kind::seal: body = seal(r.segment, r.keep_store_file); break;
    case detail::op_kind::unseal: body = unseal(r.segment); break;
  }
  json reply = detail::ok_reply(r.id);
  reply.update(body);
  return reply;
}

// ---- requests ---------------------------------------------------------------------------------

json server::impl::hello(const connection& c) const {
  json gpu = gpu::probe();
  return {{"server", "onecopy"}, {"version", "0.1.0"}, {"pid", ::getpid()}, {"uid", ::geteuid()},
          {"client", {{"pid", c.peer.pid}, {"uid", c.peer.uid}}}, {"gpu", gpu}};
}

namespace {
// The reply to seal: what the server now holds.
json sealed_reply(const entry& e, bool store_file_removed) {
  const auto& info = e.seg.info();
  return {{"segment", e.name},        {"generation", e.generation},        {"file_size", info.file_size},
          {"data_size", info.data_size}, {"checksum", info.checksum},
          {"seals", {"shrink", "grow", "write", "seal"}}, {"store_file_removed", store_file_removed}};
}
}  // namespace

entry* server::impl::sealed_entry(const std::string& name) {
  const auto it = std::find_if(entries.begin(), entries.end(),
                               [&](const auto& e) { return e->sealed && e->current && e->name == name; });
  return it == entries.end() ? nullptr : it->get();
}

entry& server::impl::current_entry(const std::string& name) {
  validate_name(name);
  // Our sealed copy, while we hold one, whatever the store's file has become.
  if (entry* sealed = sealed_entry(name)) return *sealed;
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const auto& e) { return e->current && e->name == name; });
  segment fresh = [&] {
    try {
      return st.attach(name, {.keep_fd = true});  // its fd is handed to clients
    } catch (const os_error& e) {
      // Gone (rm): forget our idea of it.
      if (e.err() == ENOENT && it != entries.end()) (*it)->current = false;
      throw;
    }
  }();
  const auto fs = sys::fstat(fresh.fd(), fresh.path());
  if (it != entries.end()) {
    if ((*it)->device == fs.device && (*it)->inode == fs.inode) return **it;
    (*it)->current = false;  // republished: a new generation
  }
  auto e = std::make_unique<entry>(entry{name, ++generations[name], fs.device, fs.inode, std::move(fresh), {}, {}, 0, true});
  entries.push_back(std::move(e));
  log(fmt::format("segment '{}' generation {} ({})", name, entries.back()->generation, entries.back()->seg.path().string()));
  return *entries.back();
}

json server::impl::attach(connection& c, const std::string& name, sys::unique_fd& pass) {
  entry& e = current_entry(name);
  // A fresh open file description per client (its own flock), of the very inode we validated.
  pass = sys::open(fmt::format("/proc/self/fd/{}", e.seg.fd()), O_RDONLY);
  lease l{next_lease++, name, e.generation, "host", "", false};
  c.leases.push_back(l);
  ++e.leases;
  const auto& info = e.seg.info();
  return {{"segment", name},         {"fd", true},
          {"lease", l.id},           {"generation", e.generation},
          {"file_size", info.file_size}, {"data_offset", info.data_offset},
          {"data_size", info.data_size}, {"checksum", info.checksum},
          {"sealed", e.sealed}};
}

json server::impl::seal(const std::string& name, bool keep_store_file) {
  validate_name(name);
  if (const entry* held = sealed_entry(name); held != nullptr && !st.exists(name)) {
    // Sealed already and the store's file gone with it: nothing to do, say what we hold.
    return sealed_reply(*held, true);
  }
  // From the store's file as it is now (not from an older sealed copy of ours).
  std::optional<segment> source = st.attach(name, {.keep_fd = true});
  const auto source_id = sys::fstat(source->fd(), source->path());
  segment copy = sealed_copy(*source, name);
  const auto fs = sys::fstat(copy.fd(), copy.path());
  for (auto& e : entries)
    if (e->name == name) e->current = false;  // a new generation: ours
  entries.push_back(std::make_unique<entry>(
      entry{name, ++generations[name], fs.device, fs.inode, std::move(copy), {}, {}, 0, true, true}));
  const entry& e = *entries.back();
  bool removed = false;
  if (!keep_store_file) {
    source.reset();
    // Only the file we copied: a name republished meanwhile is someone else's to remove.
    std::optional<sys::file_status> now;
    if (st.exists(name)) now = sys::lstat_if_exists(st.path_of(name));
    if (now && now->device == source_id.device && now->inode == source_id.inode) {
      st.remove(name);
      removed = true;
    }
  }
  log(fmt::format("sealed copy of '{}' generation {} ({} bytes); store file {}", name, e.generation,
                  e.seg.info().file_size, removed ? "removed" : "kept"));
  return sealed_reply(e, removed);
}

json server::impl::unseal(const std::string& name) {
  validate_name(name);
  entry* e = sealed_entry(name);
  if (e == nullptr) throw os_error(ENOENT, fmt::format("no sealed copy of '{}' is held", name));
  // Readers keep their mappings; the memory goes with the last of them (and their leases).
  e->current = false;
  return {{"segment", name}, {"generation", e->generation}, {"unsealed", true}};
}

json server::impl::device(connection& c, const std::string& name, const std::string& uuid, sys::unique_fd& pass) {
  const auto& p = gpu::probe();
  if (!p.available) throw request_error{"gpu_unavailable", p.reason};
  const int ordinal = gpu::find_device(p, uuid);
  if (ordinal < 0)
    throw request_error{"no_such_device", fmt::format("the server sees no device {} ({} devices)", uuid, p.devices.size())};
  entry& e = current_entry(name);
  json notes = json::array();
  if (!e.registration) {
    // Once per generation, whatever the outcome: a failed registration is remembered (with its
    // reason, in status and every client's notes) and copies read pageable memory; retrying it
    // on each request would cost its seconds again inside this loop and fail the same way.
    e.registration = gpu::host_registration::of(e.seg, st.runtime_dir() / "cuda-register.lock");
    log(fmt::format("registered '{}' ({}) in {:.3f} s after {:.3f} s waiting for other registrations: {}", name,
                    gpu::to_string(e.registration->mode()), e.registration->seconds(),
                    e.registration->lock_wait_seconds(), e.registration->reason()));
  }
  if (e.registration->mode() != gpu::register_mode::read_only) notes.push_back(e.registration->reason());
  auto it = e.copies.find(uuid);
  if (it == e.copies.end()) {
    const auto& dev = p.devices[static_cast<std::size_t>(ordinal)];
    it = e.copies.emplace(uuid, gpu::device_copy::create(e.seg, dev, &*e.registration, e.generation)).first;
    log(fmt::format("device copy of '{}' on cuda:{} ({}): copy {:.3f} s, verify {:.3f} s", name, ordinal,
                    gpu::to_string(it->second.descriptor().method), it->second.copy_seconds(),
                    it->second.verify_seconds()));
  }
  const gpu::device_copy& copy = it->second;
  for (const auto& n : copy.notes()) notes.push_back(n);
  const bool with_fd = copy.fd() >= 0;
  if (with_fd) {
    // dup: SCM_RIGHTS duplicates again into the client; ours stays with the copy.
    pass = sys::unique_fd(::fcntl(copy.fd(), F_DUPFD_CLOEXEC, 0));
    if (!pass) sys::throw_errno("fcntl(F_DUPFD_CLOEXEC) of the exported VMM fd");
  }
  lease l{next_lease++, name, e.generation, "device", uuid, copy.descriptor().method == gpu::share_method::legacy_ipc};
  c.leases.push_back(l);
  ++e.leases;
  return {{"segment", name}, {"fd", with_fd}, {"lease", l.id}, {"copy", detail::descriptor_to_json(copy.descriptor())},
          {"notes", notes}};
}

json server::impl::release(connection& c, std::uint64_t id) {
  const auto it = std::find_if(c.leases.begin(), c.leases.end(), [&](const lease& l) { return l.id == id; });
  if (it == c.leases.end()) throw request_error{"no_such_lease", fmt::format("this connection holds no lease {}", id)};
  unlease(*it);
  c.leases.erase(it);
  return {{"released", id}};
}

json server::impl::status() const {
  json cs = json::array();
  for (const auto& c : conns) {
    if (!c->fd) continue;
    json ls = json::array();
    for (const auto& l : c->leases)
      ls.push_back({{"id", l.id}, {"segment", l.segment}, {"generation", l.generation}, {"kind", l.kind}, {"device", l.device},
                    {"needs_server", l.needs_server}});
    cs.push_back({{"pid", c->peer.pid}, {"uid", c->peer.uid}, {"leases", ls}});
  }
  json es = json::array();
  for (const auto& e : entries) {
    json copies = json::array();
    for (const auto& [uuid, copy] : e->copies)
      copies.push_back({{"device", uuid}, {"method", gpu::to_string(copy.descriptor().method)},
                        {"copy_seconds", copy.copy_seconds()}, {"verify_seconds", copy.verify_seconds()}, {"notes", copy.notes()}});
    json reg = nullptr;
    if (e->registration)
      reg = {{"mode", gpu::to_string(e->registration->mode())}, {"seconds", e->registration->seconds()},
             {"lock_wait_seconds", e->registration->lock_wait_seconds()},
             {"chunks", e->registration->chunks().size()}, {"reason", e->registration->reason()}};
    es.push_back({{"name", e->name}, {"generation", e->generation}, {"current", e->current}, {"leases", e->leases},
                  {"path", e->sealed ? "memfd:onecopy:" + e->name : e->seg.path().string()}, {"sealed", e->sealed},
                  {"registration", reg}, {"device_copies", copies}});
  }
  return {{"pid", ::getpid()}, {"socket", socket.string()}, {"stopping", draining}, {"gpu", gpu::probe()},
          {"connections", cs}, {"segments", es}};
}

// ---- leases and lifetime ----------------------------------------------------------------------

void server::impl::unlease(const lease& l) {
  for (auto& e : entries)
    if (e->name == l.segment && e->generation == l.generation && e->leases > 0) {
      --e->leases;
      return;
    }
}

void server::impl::drop_unused() {
  // Unleased entries go, except the current generation's device copies (made to be reused)
  // and our current sealed copies (the memfd is the segment: it must outlive every lease).
  // Old generations' legacy-IPC copies stay exactly as long as someone leases them.
  std::erase_if(entries, [](const std::unique_ptr<entry>& e) {
    return e->leases == 0 && (!e->current || (e->copies.empty() && !e->sealed));
  });
}

std::size_t server::impl::legacy_importers() const {
  std::size_t n = 0;
  for (const auto& c : conns)
    for (const auto& l : c->leases) n += l.needs_server ? 1 : 0;
  return n;
}

void server::impl::begin_drain() {
  draining = true;
  // No new clients: the socket goes now; the singleton lock stays ours until we exit, so no
  // second server starts while our legacy-IPC memory is still mapped.
  listen_fd.reset();
  (void)::unlink(socket.c_str());
  log(fmt::format("stopping: waiting up to {} s for {} legacy-IPC importer(s) to close (a second signal stops now)",
                  opts.legacy_drain_timeout.count(), legacy_importers()));
}

void server::impl::close(connection& c) {
  if (!c.fd) return;
  for (const auto& l : c.leases) unlease(l);
  log(fmt::format("pid {} gone, {} lease{} released", c.peer.pid, c.leases.size(), c.leases.size() == 1 ? "" : "s"));
  c.leases.clear();
  c.out.clear();
  c.fd.reset();
}

void server::impl::queue(connection& c, const json& reply, sys::unique_fd fd) {
  // error_handler_t::replace: a message may quote a client's string cut mid-character.
  std::string frame = detail::encode_frame(reply.dump(-1, ' ', false, json::error_handler_t::replace));
  c.queued += frame.size();
  c.out.push_back({std::move(frame), 0, std::move(fd)});
}

void server::impl::flush(connection& c) {
  while (!c.out.empty()) {
    pending_reply& r = c.out.front();
    const ssize_t n = detail::send_some(c.fd.get(), r.bytes, r.offset, r.offset == 0 ? r.fd.get() : -1, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close(c);  // EPIPE/ECONNRESET: it is gone
      return;
    }
    r.offset += static_cast<std::size_t>(n);
    c.queued -= static_cast<std::size_t>(n);
    if (r.offset == r.bytes.size()) c.out.pop_front();
  }
  if (c.queued > max_queued_reply_bytes) {
    log(fmt::format("pid {} does not read its replies ({} bytes queued): dropped", c.peer.pid, c.queued));
    close(c);
  }
}

}  // namespace onecopy::serve
