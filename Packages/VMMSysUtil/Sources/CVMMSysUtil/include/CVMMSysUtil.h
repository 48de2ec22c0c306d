// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Linux headers that Swift's Glibc module does not expose, plus inline helpers
// for variadic or macro-only APIs. Keep this file tiny: logic belongs in Swift.
#ifndef CVMMSYSUTIL_H
#define CVMMSYSUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

/// errno of the calling thread (a macro in glibc, so Swift cannot read it directly everywhere).
static inline int cvmm_errno(void) { return errno; }

/// fallocate(2) and O_DIRECT need _GNU_SOURCE, which Swift's Glibc module is built without.
static inline int cvmm_fallocate(int fd, int mode, long long offset, long long length) {
    return fallocate(fd, mode, offset, length);
}
static inline int cvmm_o_direct(void) { return O_DIRECT; }
static inline int cvmm_falloc_keep_size(void) { return FALLOC_FL_KEEP_SIZE; }
static inline int cvmm_falloc_punch_hole(void) { return FALLOC_FL_PUNCH_HOLE; }
static inline int cvmm_falloc_zero_range(void) { return FALLOC_FL_ZERO_RANGE; }

/// fcntl with an int argument (fcntl is variadic, so Swift cannot call it with every command).
static inline int cvmm_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

/// File seal bits.
static inline int cvmm_f_seal_seal(void) { return F_SEAL_SEAL; }
static inline int cvmm_f_seal_shrink(void) { return F_SEAL_SHRINK; }
static inline int cvmm_f_seal_grow(void) { return F_SEAL_GROW; }
static inline int cvmm_f_seal_write(void) { return F_SEAL_WRITE; }

/// MFD_HUGE_2MB (a shifted macro).
static inline unsigned int cvmm_mfd_huge_2mb(void) { return MFD_HUGE_2MB; }

// One header per area, so helpers stay small and findable.
#include "cvmm_io.h"       // epoll, timerfd, signalfd, sockets (SCM_RIGHTS), terminals
#include "cvmm_signals.h"  // real-time signals for vCPU kicks, threads

// After cvmm_io.h: <sys/random.h> pulls in <sys/select.h>, whose fd_set spelling cvmm_io.h settles first.
#include <sys/random.h>

/// getrandom(2), which Swift's Glibc module does not export.
static inline long cvmm_getrandom(void *buffer, size_t length, unsigned int flags) {
    return getrandom(buffer, length, flags);
}


#endif
