// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Linux headers that Swift's Glibc module does not expose, plus inline helpers
// for variadic or macro-only APIs. Keep this file tiny: logic belongs in Swift.
#ifndef CVMMSYSUTIL_H
#define CVMMSYSUTIL_H

#include <errno.h>
#include <sys/eventfd.h>

/// errno of the calling thread (a macro in glibc, so Swift cannot read it directly everywhere).
static inline int cvmm_errno(void) { return errno; }

#endif
