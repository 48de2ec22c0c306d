// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Testing
import VMMemoryPortableTests

extension PortableTestCase: @retroactive CustomTestStringConvertible {
    /// `Suite: name`, so each case is listed by what it checks.
    public var testDescription: String { "\(suite): \(name)" }
}

/// The portable cases (also run on riscv64 by `vmm-tools riscv64`), one Swift Testing case each.
@Test(arguments: VMMemoryPortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }
