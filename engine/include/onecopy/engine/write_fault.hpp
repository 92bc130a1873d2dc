// SPDX-License-Identifier: Apache-2.0
// Naming the segment when a write faults: attached segments are mapped read-only, so a write
// through one (a torch tensor from DLPack that ignores the read-only flag, say) kills the
// process with SIGSEGV. With the report installed the process still dies the same way (same
// signal, same core dump), but first prints which segment and tensor it wrote to.
#pragma once

namespace onecopy {

/// Installs a SIGSEGV handler (process-wide) that, for a write fault inside a mapping of a
/// onecopy segment, writes one line to stderr —
/// "onecopy: write to read-only onecopy segment 'NAME' (offset N, tensor 'T') …" — and then
/// passes the signal on: to the handler installed before it, else the default action (the
/// process dies with SIGSEGV and dumps core as usual). Faults elsewhere are passed on
/// untouched. The handler allocates nothing and takes no lock (async-signal-safe). Idempotent.
/// @throws os_error "sigaction(SIGSEGV)" when the handler cannot be installed
void install_write_fault_report();

/// Restores the SIGSEGV action that install_write_fault_report() replaced (when nobody has
/// replaced ours since). Idempotent.
void uninstall_write_fault_report() noexcept;

/// True while the handler is installed.
[[nodiscard]] bool write_fault_report_installed() noexcept;

}  // namespace onecopy
