// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Testing
import X86MachinePortableTests

extension PortableTestCase: CustomTestStringConvertible {
    /// "Suite: name", as Swift Testing lists the case.
    public var testDescription: String { "\(suite): \(name)" }
}

@Test(arguments: X86MachinePortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }
