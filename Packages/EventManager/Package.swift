// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "EventManager",
    products: [
        .library(name: "EventManager", targets: ["EventManager"])
    ],
    dependencies: [
        .package(path: "../VMMSysUtil")
    ],
    targets: [
        .target(name: "EventManager", dependencies: [.product(name: "VMMSysUtil", package: "VMMSysUtil")]),
        .testTarget(
            name: "EventManagerTests",
            dependencies: ["EventManager", .product(name: "VMMSysUtil", package: "VMMSysUtil")]),
    ]
)
