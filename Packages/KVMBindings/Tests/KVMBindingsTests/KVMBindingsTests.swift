// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMBindings
import Testing

@Suite struct KVMBindingsTests {
    /// Request numbers are the documented _IO/_IOW/_IOR encodings (ioctl(2), asm-generic/ioctl.h):
    /// direction << 30 | size << 16 | 0xAE << 8 | number.
    @Test func ioctlNumbersMatchTheKernelEncoding() {
        #expect(KVMB_GET_API_VERSION == 0xAE00)
        #expect(KVMB_CREATE_VM == 0xAE01)
        #expect(KVMB_RUN == 0xAE80)
        // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region), 32 bytes.
        #expect(KVMB_SET_USER_MEMORY_REGION == (1 << 30 | 32 << 16 | 0xAE << 8 | 0x46))
        // _IOR(KVMIO, 0x81, struct kvm_regs), 144 bytes.
        #expect(KVMB_GET_REGS == (2 << 30 | UInt(MemoryLayout<kvm_regs>.size) << 16 | 0xAE << 8 | 0x81))
    }

    @Test func flexibleArrayAccessorsPointPastTheHeader() {
        let count: UInt32 = 3
        let size = kvmb_cpuid2_size(count)
        #expect(size == MemoryLayout<kvm_cpuid2>.size + 3 * MemoryLayout<kvm_cpuid_entry2>.size)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { raw.deallocate() }
        let cpuid = raw.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        let entries = kvmb_cpuid2_entries(cpuid)!
        #expect(UnsafeMutableRawPointer(entries) - raw == MemoryLayout<kvm_cpuid2>.size)
        #expect(kvmb_msrs_size(2) == MemoryLayout<kvm_msrs>.size + 2 * MemoryLayout<kvm_msr_entry>.size)
        #expect(kvmb_msr_list_size(4) == MemoryLayout<kvm_msr_list>.size + 16)
        #expect(
            kvmb_irq_routing_size(1) == MemoryLayout<kvm_irq_routing>.size + MemoryLayout<kvm_irq_routing_entry>.size)
    }

    @Test func dirtyLogBitmapPointerLandsInTheUnion() {
        var log = kvm_dirty_log()
        var word: UInt64 = 0
        kvmb_dirty_log_set_bitmap(&log, &word)
        #expect(log.dirty_bitmap == UnsafeMutableRawPointer(&word))
    }

    @Test func apiVersionOnRealKVM() throws {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        if fd < 0 {
            let ci = getenv("CI").map { String(cString: $0) } == "true"
            #expect(!ci, "CI=true but /dev/kvm cannot be opened")
            print("SKIPPED: /dev/kvm is not available (errno \(errno)) — KVM API version not checked")
            return
        }
        defer { close(fd) }
        #expect(ioctl(fd, KVMB_GET_API_VERSION) == KVM_API_VERSION)
    }
}
