// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "KVMIoctls",
    products: [
        .library(name: "KVMIoctls", targets: ["KVMIoctls"])
    ],
    dependencies: [
        .package(path: "../KVMBindings"),
        .package(path: "../VMMSysUtil"),
    ],
    targets: [
        .target(
            name: "KVMIoctls",
            dependencies: [
                .product(name: "KVMBindings", package: "KVMBindings"),
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
            ]),
        .testTarget(
            name: "KVMIoctlsTests",
            dependencies: [
                "KVMIoctls",
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
            ]),
    ]
)
