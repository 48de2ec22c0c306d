// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMAllocator",
    products: [
        .library(name: "VMAllocator", targets: ["VMAllocator"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "VMAllocator"),
        .target(
            name: "VMAllocatorPortableTests",
            dependencies: ["VMAllocator", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMAllocatorPortableTests"),
        .testTarget(
            name: "VMAllocatorTests",
            dependencies: [
                "VMAllocator", "VMAllocatorPortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
    ]
)
