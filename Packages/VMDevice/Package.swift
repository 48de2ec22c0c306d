// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMDevice",
    products: [
        .library(name: "VMDevice", targets: ["VMDevice"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "VMDevice"),
        .target(
            name: "VMDevicePortableTests",
            dependencies: ["VMDevice", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMDevicePortableTests"),
        .testTarget(
            name: "VMDeviceTests",
            dependencies: [
                "VMDevice", "VMDevicePortableTests", .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
    ]
)
