// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import Vhost

/// The README's example, as written there.
@Test func readmeExample() throws {
    // SET_VRING_NUM for ring 1 with 256 entries: a 12-byte header and an 8-byte payload.
    let message = VhostUserMessage(.setVringNum, payload: .vringState(VringState(index: 1, num: 256)))
    let bytes = message.encoded()
    #expect(bytes.count == 20)
    #expect(try VhostUserMessage.decode(bytes) == message)

    // A hostile peer's bytes get a typed error, never a crash: here a memory table claiming 9 regions.
    let hostile: [UInt8] = [5, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]
    #expect(throws: VhostUserError.badRegionCount(9)) { try VhostUserMessage.decode(hostile) }
}
