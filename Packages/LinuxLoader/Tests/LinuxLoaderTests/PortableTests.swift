// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoaderPortableTests
import PortableTesting
import Testing

extension PortableTestCase: CustomTestStringConvertible {
    /// "Suite: name", as Swift Testing lists the case.
    public var testDescription: String { "\(suite): \(name)" }
}

@Test(arguments: LinuxLoaderPortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }
