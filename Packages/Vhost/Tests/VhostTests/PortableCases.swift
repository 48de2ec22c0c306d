// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Testing
import VhostPortableTests

/// A portable case as a Swift Testing argument. A local wrapper rather than a
/// conformance on `PortableTestCase`: that type lives in another package when this
/// one is built standalone but in the same package in the workspace build, and no
/// single spelling of a retroactive conformance compiles cleanly in both.
struct PortableCase: CustomTestStringConvertible, Sendable {
    let testCase: PortableTestCase
    var testDescription: String { "\(testCase.suite): \(testCase.name)" }
}

/// The portable cases (also run on riscv64 by `vmm-tools riscv64`), one Swift Testing case each.
@Test(arguments: VhostPortableTests.allCases.map(PortableCase.init))
func portable(_ portable: PortableCase) throws { try portable.testCase.run() }
