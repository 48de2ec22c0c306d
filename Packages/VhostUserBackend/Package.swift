// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VhostUserBackend",
    products: [
        .library(name: "VhostUserBackend", targets: ["VhostUserBackend"]),
        .executable(name: "vhost-device-rng", targets: ["vhost-device-rng"]),
        .executable(name: "vhost-device-blk", targets: ["vhost-device-blk"]),
        .executable(name: "vhost-device-vsock", targets: ["vhost-device-vsock"]),
    ],
    dependencies: [
        .package(path: "../EventManager"),
        .package(path: "../Seccompiler"),
        .package(path: "../VMDevice"),
        .package(path: "../VMMSysUtil"),
        .package(path: "../VMMemory"),
        .package(path: "../Vhost"),
        .package(path: "../VirtioDevices"),
        .package(path: "../VirtioQueue"),
    ],
    targets: [
        .target(
            name: "VhostUserBackend",
            dependencies: [
                .product(name: "EventManager", package: "EventManager"),
                .product(name: "Seccompiler", package: "Seccompiler"),
                .product(name: "VMDevice", package: "VMDevice"),
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
                .product(name: "VMMemory", package: "VMMemory"),
                .product(name: "VMMemoryLinux", package: "VMMemory"),
                .product(name: "Vhost", package: "Vhost"),
                .product(name: "VirtioDevices", package: "VirtioDevices"),
                .product(name: "VirtioQueue", package: "VirtioQueue"),
            ]),
        .executableTarget(
            name: "vhost-device-rng",
            dependencies: [
                "VhostUserBackend",
                .product(name: "VMMemory", package: "VMMemory"),
                .product(name: "VMMemoryLinux", package: "VMMemory"),
                .product(name: "VirtioDevices", package: "VirtioDevices"),
            ]),
        .executableTarget(
            name: "vhost-device-blk",
            dependencies: [
                "VhostUserBackend",
                .product(name: "VMMemory", package: "VMMemory"),
                .product(name: "VMMemoryLinux", package: "VMMemory"),
                .product(name: "VirtioDevices", package: "VirtioDevices"),
            ]),
        .executableTarget(
            name: "vhost-device-vsock",
            dependencies: [
                "VhostUserBackend",
                .product(name: "VMMemory", package: "VMMemory"),
                .product(name: "VMMemoryLinux", package: "VMMemory"),
                .product(name: "VirtioDevices", package: "VirtioDevices"),
            ]),
        .testTarget(
            name: "VhostUserBackendTests",
            dependencies: [
                "VhostUserBackend",
                .product(name: "EventManager", package: "EventManager"),
                .product(name: "Seccompiler", package: "Seccompiler"),
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
                .product(name: "VMMemory", package: "VMMemory"),
                .product(name: "VMMemoryLinux", package: "VMMemory"),
                .product(name: "Vhost", package: "Vhost"),
                .product(name: "VhostUser", package: "Vhost"),
                .product(name: "VirtioDevices", package: "VirtioDevices"),
            ]),
    ]
)

// Swift 6.2 strict memory safety (SE-0458) on every library and executable target:
// each unsafe construct is an `unsafe` expression the compiler found (an unmarked
// one fails the build), and `vmm-tools lint` requires a `// SAFETY:` comment on
// each. Tests are exempt.
for target in package.targets where target.type != .test && !(target.path ?? "").hasPrefix("Tests/") {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [.strictMemorySafety(), .treatWarning("StrictMemorySafety", as: .error)]
}
