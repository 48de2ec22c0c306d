// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMDevice",
    products: [
        .library(name: "VMDevice", targets: ["VMDevice"])
    ],
    targets: [
        .target(name: "VMDevice"),
        .testTarget(name: "VMDeviceTests", dependencies: ["VMDevice"]),
    ]
)
