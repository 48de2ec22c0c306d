// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting

/// Every portable Vhost case. They run inside `swift test` on the host (the
/// `portable` test of VhostTests) and in an Embedded Swift riscv64 binary under qemu,
/// so they use no threads, Foundation or Strings.
public let allCases: [PortableTestCase] =
    roundTripCases + wireCases + requestTableCases + descriptorPayloadCases + headerErrorCases
    + payloadErrorCases + replyCases + backendRequestCases
