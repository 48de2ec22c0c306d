// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting

/// Every portable VMSuperIO case. They run inside `swift test` on the host (the
/// `portable` test of VMSuperIOTests) and in the Embedded Swift riscv64 binary that
/// `vmm-tools riscv64` runs under qemu, so they use no threads, host clock,
/// Foundation or String comparison.
public let allCases: [PortableTestCase] =
    linuxDriverReplayCases + serialDatasheetCases + serialStateCases + i8042Cases + cmosRTCCases + pl031Cases
