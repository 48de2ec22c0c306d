// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VirtioQueue",
    products: [
        .library(name: "VirtioQueue", targets: ["VirtioQueue"])
    ],
    dependencies: [
        .package(path: "../PortableTesting"),
        .package(path: "../VMMemory"),
    ],
    targets: [
        .target(name: "VirtioQueue", dependencies: [.product(name: "VMMemory", package: "VMMemory")]),
        .target(
            name: "VirtioQueuePortableTests",
            dependencies: [
                "VirtioQueue", .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
            ],
            path: "Tests/VirtioQueuePortableTests"),
        .testTarget(
            name: "VirtioQueueTests",
            dependencies: [
                "VirtioQueue", "VirtioQueuePortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
            ]),
    ]
)
