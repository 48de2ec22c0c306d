// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMFDT",
    products: [
        .library(name: "VMFDT", targets: ["VMFDT"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "VMFDT"),
        .target(
            name: "VMFDTPortableTests",
            dependencies: ["VMFDT", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMFDTPortableTests"),
        .testTarget(
            name: "VMFDTTests",
            dependencies: [
                "VMFDT", "VMFDTPortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
    ]
)
