// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// libseccomp plus the few kernel calls Seccompiler needs that Swift cannot make
// itself: macro-only constants, variadic prctl/syscall, and a fork-based probe
// whose child must run nothing but async-signal-safe C. Logic belongs in Swift.
#ifndef CSECCOMP_H
#define CSECCOMP_H

#include <linux/filter.h>
#include <seccomp.h>
#include <stdint.h>

// MARK: libseccomp actions and architectures (function-like or composite macros)

static inline uint32_t cseccomp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t cseccomp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline uint32_t cseccomp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t cseccomp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline uint32_t cseccomp_act_log(void) { return SCMP_ACT_LOG; }
static inline uint32_t cseccomp_act_errno(uint16_t code) { return SCMP_ACT_ERRNO(code); }
static inline uint32_t cseccomp_act_trace(uint16_t data) { return SCMP_ACT_TRACE(data); }

static inline uint32_t cseccomp_arch_x86_64(void) { return SCMP_ARCH_X86_64; }
static inline uint32_t cseccomp_arch_aarch64(void) { return SCMP_ARCH_AARCH64; }
static inline uint32_t cseccomp_arch_riscv64(void) { return SCMP_ARCH_RISCV64; }

/// The value libseccomp returns for a name it does not know.
static inline int cseccomp_nr_error(void) { return __NR_SCMP_ERROR; }

// MARK: kernel calls (implemented in shim.c)

/// SECCOMP_FILTER_FLAG_* bits for cseccomp_install.
static inline unsigned int cseccomp_flag_tsync(void) { return 1U << 0; }
static inline unsigned int cseccomp_flag_log(void) { return 1U << 1; }
static inline unsigned int cseccomp_flag_spec_allow(void) { return 1U << 2; }

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, program). Returns 0, -1 with errno set, or (with TSYNC)
/// the id of a thread that could not be synchronised.
int cseccomp_install(const struct sock_filter *filter, unsigned short count, unsigned int flags);

/// prctl(PR_SET_NO_NEW_PRIVS, 1): 0 or -1 with errno set.
int cseccomp_set_no_new_privs(void);

/// prctl(PR_GET_NO_NEW_PRIVS): 0 or 1, or -1 with errno set.
int cseccomp_get_no_new_privs(void);

/// prctl(PR_GET_SECCOMP): 0 (off), 1 (strict), 2 (filter), or -1 with errno set.
int cseccomp_get_mode(void);

/// errno of the calling thread.
int cseccomp_errno(void);

// MARK: probe (a syscall made under a filter in a disposable child process)

/// What the probe child does.
struct cseccomp_probe_request {
    const struct sock_filter *filter;
    unsigned short count;
    unsigned int flags;         // SECCOMP_FILTER_FLAG_* for the installation
    int set_no_new_privs;       // 1: prctl(PR_SET_NO_NEW_PRIVS) first
    int on_other_thread;        // 1: a thread that exists before installation makes the call
    long syscall_number;
    unsigned long arguments[6];
    int timeout_ms;
};

/// Stages the child reports through shared memory.
enum {
    CSECCOMP_PROBE_STARTED = 1,
    CSECCOMP_PROBE_INSTALLED = 2,
    CSECCOMP_PROBE_RETURNED = 3,
    CSECCOMP_PROBE_TRAPPED = 4,
    CSECCOMP_PROBE_INSTALL_FAILED = 5,
    CSECCOMP_PROBE_SETUP_FAILED = 6,
};

/// What the parent observed.
struct cseccomp_probe_result {
    int stage;              // last CSECCOMP_PROBE_* stage the child reached
    long return_value;      // the call's return value (stage RETURNED)
    int error_number;       // errno after the call (stage RETURNED, return_value == -1)
    int trap_syscall;       // siginfo si_syscall of the SIGSYS (stage TRAPPED)
    int trap_data;          // siginfo si_errno: SECCOMP_RET_DATA of the trap action
    unsigned int trap_arch; // siginfo si_arch
    int install_result;     // seccomp() result (stage INSTALL_FAILED)
    int install_errno;      // errno of the failed installation or setup step
    int exited;             // 1: the child ended on its own (wait status below)
    int exit_status;        // WEXITSTATUS, or -1
    int signal;             // WTERMSIG, or 0
    int thread_killed;      // 1: the calling (other) thread vanished while the process lived on
    int timed_out;          // 1: nothing conclusive within timeout_ms
};

/// Forks a child that installs the filter and makes the call; the parent watches shared memory and
/// the child's status, then kills and reaps it. Returns 0, or -1 with errno set when mmap or fork fail.
int cseccomp_probe(const struct cseccomp_probe_request *request, struct cseccomp_probe_result *result);

// MARK: trap reporter (a SIGSYS handler for SECCOMP_RET_TRAP)

/// Installs a SIGSYS handler that writes one line to stderr, "<prefix>: seccomp: thread <name>
/// (<tid>) made the forbidden system call <name> (<number>)", and ends the process with
/// `_exit(exit_status)`. Names are resolved with libseccomp now, for the native architecture,
/// because the handler itself may only run async-signal-safe code. `prefix` is copied (at most
/// 63 bytes). Returns 0 or -1 with errno set.
int cseccomp_report_traps(const char *prefix, int exit_status);

/// 1 when LLVM's profile runtime is linked into the process (a coverage-instrumented build,
/// which writes its counters from the exiting thread), else 0.
int cseccomp_has_profile_runtime(void);

#endif
