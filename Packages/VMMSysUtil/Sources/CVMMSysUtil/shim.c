// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// SwiftPM needs at least one source file in a C target; every helper is inline in the header.
#include "CVMMSysUtil.h"
