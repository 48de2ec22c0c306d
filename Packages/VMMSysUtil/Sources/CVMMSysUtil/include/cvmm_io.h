// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// C helpers for epoll, timerfd, signalfd, sockets (SCM_RIGHTS), terminals. Included by CVMMSysUtil.h after _GNU_SOURCE is defined.
#ifndef CVMM_IO_H
#define CVMM_IO_H

#endif
