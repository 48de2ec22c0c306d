// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "PortableTesting",
    products: [
        .library(name: "PortableTesting", targets: ["PortableTesting"])
    ],
    targets: [
        .target(name: "PortableTesting"),
        .target(
            name: "PortableTestingPortableTests", dependencies: ["PortableTesting"],
            path: "Tests/PortableTestingPortableTests"),
        .testTarget(name: "PortableTestingTests", dependencies: ["PortableTesting", "PortableTestingPortableTests"]),
    ]
)
