// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting

/// Every portable VirtioQueue case. They run inside `swift test` on the host (the
/// `portable` test of VirtioQueueTests) and in the Embedded Swift riscv64 binary that
/// `vmm-tools riscv64` runs under qemu, so they use no threads, Foundation or Strings.
public let allCases: [PortableTestCase] =
    splitCases + ringFaultCases + splitControlCases + packedCases + packedNotificationCases + chainIOCases
    + propertyCases
