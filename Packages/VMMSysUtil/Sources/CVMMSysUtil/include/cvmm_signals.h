// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// C helpers for real-time signals for vCPU kicks, threads. Included by CVMMSysUtil.h after _GNU_SOURCE is defined.
#ifndef CVMM_SIGNALS_H
#define CVMM_SIGNALS_H

#endif
