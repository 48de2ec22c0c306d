// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// C helpers for real-time signals for vCPU kicks, threads. Included by CVMMSysUtil.h after _GNU_SOURCE is defined.
#ifndef CVMM_SIGNALS_H
#define CVMM_SIGNALS_H

#include <pthread.h>
#include <signal.h>

/// SIGRTMIN and SIGRTMAX are function calls behind macros in glibc (the C library
/// reserves the first few real-time signals for itself), so Swift cannot read them.
static inline int cvmm_sigrtmin(void) { return SIGRTMIN; }
static inline int cvmm_sigrtmax(void) { return SIGRTMAX; }

/// 1 when `signo` has a real handler (not SIG_DFL/SIG_IGN), 0 when not, -1 with errno on failure.
/// (Swift cannot compare C function pointers such as SIG_DFL.)
static inline int cvmm_signal_has_handler(int signo) {
    struct sigaction current;
    if (sigaction(signo, NULL, &current) != 0) return -1;
    return current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN;
}

/// Names the calling thread (at most 15 bytes, else ERANGE), as `ps -L`, /proc/<pid>/task/<tid>/comm
/// and audit records show it. pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc lacks.
static inline int cvmm_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

#endif
