// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// SwiftPM needs at least one source file in a C target; everything else is inline in the header.
#include "KVMBindings.h"
