// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMBindings
import VMMSysUtil

/// An in-kernel device made with `KVM_CREATE_DEVICE` (VFIO, ARM GIC, RISC-V AIA ...),
/// configured through attributes.
///
/// ```swift
/// let device = try vm.createDevice(type: KVM_DEV_TYPE_VFIO.rawValue)
/// if device.hasAttribute(group: 1, attribute: 1) { /* ... */ }
/// ```
public final class Device: Sendable {
    /// The device descriptor, owned by this value.
    public let descriptor: FileDescriptor

    init(descriptor: consuming FileDescriptor) { self.descriptor = descriptor }

    /// `KVM_HAS_DEVICE_ATTR`: whether the device knows `attribute` in `group`.
    public func hasAttribute(group: UInt32, attribute: UInt64) -> Bool {
        var request = kvm_device_attr(flags: 0, group: group, attr: attribute, addr: 0)
        return (try? IOCtl.call(descriptor.rawValue, KVMB_HAS_DEVICE_ATTR, &request, "KVM_HAS_DEVICE_ATTR")) != nil
    }

    /// `KVM_SET_DEVICE_ATTR` with a 64-bit value (passed by address, as the ABI requires).
    public func setAttribute(group: UInt32, attribute: UInt64, value: UInt64) throws(KVMError) {
        var value = value
        let fd = descriptor.rawValue
        // SAFETY: KVM reads 8 bytes at addr while the ioctl runs.
        try unsafe withUnsafeMutablePointer(to: &value) { (pointer) throws(KVMError) in
            var request = kvm_device_attr(
                flags: 0, group: group, attr: attribute, addr: UInt64(UInt(bitPattern: pointer)))
            try IOCtl.call(fd, KVMB_SET_DEVICE_ATTR, &request, "KVM_SET_DEVICE_ATTR")
        }
    }

    /// `KVM_SET_DEVICE_ATTR` with `addr` used as a plain value (attributes that take no pointer).
    public func setAttribute(group: UInt32, attribute: UInt64, rawAddress: UInt64) throws(KVMError) {
        var request = kvm_device_attr(flags: 0, group: group, attr: attribute, addr: rawAddress)
        try IOCtl.call(descriptor.rawValue, KVMB_SET_DEVICE_ATTR, &request, "KVM_SET_DEVICE_ATTR")
    }

    /// `KVM_GET_DEVICE_ATTR` of a 64-bit value.
    public func attribute(group: UInt32, attribute: UInt64) throws(KVMError) -> UInt64 {
        var value: UInt64 = 0
        let fd = descriptor.rawValue
        // SAFETY: KVM writes at most 8 bytes at addr.
        try unsafe withUnsafeMutablePointer(to: &value) { (pointer) throws(KVMError) in
            var request = kvm_device_attr(
                flags: 0, group: group, attr: attribute, addr: UInt64(UInt(bitPattern: pointer)))
            try IOCtl.call(fd, KVMB_GET_DEVICE_ATTR, &request, "KVM_GET_DEVICE_ATTR")
        }
        return value
    }
}
