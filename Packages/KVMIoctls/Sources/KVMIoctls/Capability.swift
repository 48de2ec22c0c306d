// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import KVMBindings

/// A KVM capability, as checked with `KVM_CHECK_EXTENSION`.
///
/// Raw values come from `<linux/kvm.h>` (`KVM_CAP_*`), so they cannot drift from the kernel's.
///
/// ```swift
/// let kvm = try KVM()
/// if kvm.supports(.irqfd) { /* wire interrupts through eventfds */ }
/// let slots = kvm.check(.memorySlots)  // how many memory slots a VM may use
/// ```
public enum Capability: CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// `KVM_CAP_IRQCHIP`.
    case irqchip
    /// `KVM_CAP_HLT`.
    case hlt
    /// `KVM_CAP_USER_MEMORY`.
    case userMemory
    /// `KVM_CAP_SET_TSS_ADDR`.
    case setTSSAddress
    /// `KVM_CAP_EXT_CPUID`.
    case extendedCPUID
    /// `KVM_CAP_CLOCKSOURCE`.
    case clockSource
    /// `KVM_CAP_NR_VCPUS`.
    case recommendedVCPUs
    /// `KVM_CAP_NR_MEMSLOTS`.
    case memorySlots
    /// `KVM_CAP_PIT`.
    case pit
    /// `KVM_CAP_NOP_IO_DELAY`.
    case nopIODelay
    /// `KVM_CAP_MP_STATE`.
    case mpState
    /// `KVM_CAP_COALESCED_MMIO`.
    case coalescedMMIO
    /// `KVM_CAP_SYNC_MMU`.
    case syncMMU
    /// `KVM_CAP_USER_NMI`.
    case userNMI
    /// `KVM_CAP_SET_GUEST_DEBUG`.
    case setGuestDebug
    /// `KVM_CAP_REINJECT_CONTROL`.
    case reinjectControl
    /// `KVM_CAP_IRQ_ROUTING`.
    case irqRouting
    /// `KVM_CAP_IRQ_INJECT_STATUS`.
    case irqInjectStatus
    /// `KVM_CAP_MCE`.
    case mce
    /// `KVM_CAP_IRQFD`.
    case irqfd
    /// `KVM_CAP_PIT2`.
    case pit2
    /// `KVM_CAP_SET_BOOT_CPU_ID`.
    case setBootCPUID
    /// `KVM_CAP_PIT_STATE2`.
    case pitState2
    /// `KVM_CAP_IOEVENTFD`.
    case ioeventfd
    /// `KVM_CAP_SET_IDENTITY_MAP_ADDR`.
    case setIdentityMapAddress
    /// `KVM_CAP_ADJUST_CLOCK`.
    case adjustClock
    /// `KVM_CAP_INTERNAL_ERROR_DATA`.
    case internalErrorData
    /// `KVM_CAP_VCPU_EVENTS`.
    case vcpuEvents
    /// `KVM_CAP_INTR_SHADOW`.
    case interruptShadow
    /// `KVM_CAP_DEBUGREGS`.
    case debugRegisters
    /// `KVM_CAP_X86_ROBUST_SINGLESTEP`.
    case x86RobustSingleStep
    /// `KVM_CAP_ENABLE_CAP`.
    case enableCap
    /// `KVM_CAP_XSAVE`.
    case xsave
    /// `KVM_CAP_XCRS`.
    case xcrs
    /// `KVM_CAP_ASYNC_PF`.
    case asyncPageFault
    /// `KVM_CAP_TSC_CONTROL`.
    case tscControl
    /// `KVM_CAP_GET_TSC_KHZ`.
    case getTSCKHz
    /// `KVM_CAP_MAX_VCPUS`.
    case maxVCPUs
    /// `KVM_CAP_ONE_REG`.
    case oneReg
    /// `KVM_CAP_TSC_DEADLINE_TIMER`.
    case tscDeadlineTimer
    /// `KVM_CAP_SYNC_REGS`.
    case syncRegs
    /// `KVM_CAP_KVMCLOCK_CTRL`.
    case kvmclockControl
    /// `KVM_CAP_SIGNAL_MSI`.
    case signalMSI
    /// `KVM_CAP_READONLY_MEM`.
    case readOnlyMemory
    /// `KVM_CAP_IRQFD_RESAMPLE`.
    case irqfdResample
    /// `KVM_CAP_DEVICE_CTRL`.
    case deviceControl
    /// `KVM_CAP_EXT_EMUL_CPUID`.
    case emulatedCPUID
    /// `KVM_CAP_IOAPIC_POLARITY_IGNORED`.
    case ioapicPolarityIgnored
    /// `KVM_CAP_ENABLE_CAP_VM`.
    case enableCapVM
    /// `KVM_CAP_IOEVENTFD_NO_LENGTH`.
    case ioeventfdNoLength
    /// `KVM_CAP_VM_ATTRIBUTES`.
    case vmAttributes
    /// `KVM_CAP_CHECK_EXTENSION_VM`.
    case checkExtensionVM
    /// `KVM_CAP_DISABLE_QUIRKS`.
    case disableQuirks
    /// `KVM_CAP_X86_SMM`.
    case x86SMM
    /// `KVM_CAP_MULTI_ADDRESS_SPACE`.
    case multiAddressSpace
    /// `KVM_CAP_GUEST_DEBUG_HW_BPS`.
    case guestDebugHardwareBreakpoints
    /// `KVM_CAP_GUEST_DEBUG_HW_WPS`.
    case guestDebugHardwareWatchpoints
    /// `KVM_CAP_SPLIT_IRQCHIP`.
    case splitIRQChip
    /// `KVM_CAP_IOEVENTFD_ANY_LENGTH`.
    case ioeventfdAnyLength
    /// `KVM_CAP_X2APIC_API`.
    case x2apicAPI
    /// `KVM_CAP_IMMEDIATE_EXIT`.
    case immediateExit
    /// `KVM_CAP_GET_MSR_FEATURES`.
    case getMSRFeatures
    /// `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`.
    case manualDirtyLogProtect2
    /// `KVM_CAP_MAX_VCPU_ID`.
    case maxVCPUID
    /// `KVM_CAP_X86_DISABLE_EXITS`.
    case x86DisableExits
    /// `KVM_CAP_DIRTY_LOG_RING`.
    case dirtyLogRing
    /// `KVM_CAP_XSAVE2`.
    case xsave2
    /// `KVM_CAP_SYS_ATTRIBUTES`.
    case sysAttributes

    /// The `KVM_CAP_*` number passed to `KVM_CHECK_EXTENSION`.
    public var rawValue: Int32 {
        switch self {
        case .irqchip: KVM_CAP_IRQCHIP
        case .hlt: KVM_CAP_HLT
        case .userMemory: KVM_CAP_USER_MEMORY
        case .setTSSAddress: KVM_CAP_SET_TSS_ADDR
        case .extendedCPUID: KVM_CAP_EXT_CPUID
        case .clockSource: KVM_CAP_CLOCKSOURCE
        case .recommendedVCPUs: KVM_CAP_NR_VCPUS
        case .memorySlots: KVM_CAP_NR_MEMSLOTS
        case .pit: KVM_CAP_PIT
        case .nopIODelay: KVM_CAP_NOP_IO_DELAY
        case .mpState: KVM_CAP_MP_STATE
        case .coalescedMMIO: KVM_CAP_COALESCED_MMIO
        case .syncMMU: KVM_CAP_SYNC_MMU
        case .userNMI: KVM_CAP_USER_NMI
        case .setGuestDebug: KVM_CAP_SET_GUEST_DEBUG
        case .reinjectControl: KVM_CAP_REINJECT_CONTROL
        case .irqRouting: KVM_CAP_IRQ_ROUTING
        case .irqInjectStatus: KVM_CAP_IRQ_INJECT_STATUS
        case .mce: KVM_CAP_MCE
        case .irqfd: KVM_CAP_IRQFD
        case .pit2: KVM_CAP_PIT2
        case .setBootCPUID: KVM_CAP_SET_BOOT_CPU_ID
        case .pitState2: KVM_CAP_PIT_STATE2
        case .ioeventfd: KVM_CAP_IOEVENTFD
        case .setIdentityMapAddress: KVM_CAP_SET_IDENTITY_MAP_ADDR
        case .adjustClock: KVM_CAP_ADJUST_CLOCK
        case .internalErrorData: KVM_CAP_INTERNAL_ERROR_DATA
        case .vcpuEvents: KVM_CAP_VCPU_EVENTS
        case .interruptShadow: KVM_CAP_INTR_SHADOW
        case .debugRegisters: KVM_CAP_DEBUGREGS
        case .x86RobustSingleStep: KVM_CAP_X86_ROBUST_SINGLESTEP
        case .enableCap: KVM_CAP_ENABLE_CAP
        case .xsave: KVM_CAP_XSAVE
        case .xcrs: KVM_CAP_XCRS
        case .asyncPageFault: KVM_CAP_ASYNC_PF
        case .tscControl: KVM_CAP_TSC_CONTROL
        case .getTSCKHz: KVM_CAP_GET_TSC_KHZ
        case .maxVCPUs: KVM_CAP_MAX_VCPUS
        case .oneReg: KVM_CAP_ONE_REG
        case .tscDeadlineTimer: KVM_CAP_TSC_DEADLINE_TIMER
        case .syncRegs: KVM_CAP_SYNC_REGS
        case .kvmclockControl: KVM_CAP_KVMCLOCK_CTRL
        case .signalMSI: KVM_CAP_SIGNAL_MSI
        case .readOnlyMemory: KVM_CAP_READONLY_MEM
        case .irqfdResample: KVM_CAP_IRQFD_RESAMPLE
        case .deviceControl: KVM_CAP_DEVICE_CTRL
        case .emulatedCPUID: KVM_CAP_EXT_EMUL_CPUID
        case .ioapicPolarityIgnored: KVM_CAP_IOAPIC_POLARITY_IGNORED
        case .enableCapVM: KVM_CAP_ENABLE_CAP_VM
        case .ioeventfdNoLength: KVM_CAP_IOEVENTFD_NO_LENGTH
        case .vmAttributes: KVM_CAP_VM_ATTRIBUTES
        case .checkExtensionVM: KVM_CAP_CHECK_EXTENSION_VM
        case .disableQuirks: KVM_CAP_DISABLE_QUIRKS
        case .x86SMM: KVM_CAP_X86_SMM
        case .multiAddressSpace: KVM_CAP_MULTI_ADDRESS_SPACE
        case .guestDebugHardwareBreakpoints: KVM_CAP_GUEST_DEBUG_HW_BPS
        case .guestDebugHardwareWatchpoints: KVM_CAP_GUEST_DEBUG_HW_WPS
        case .splitIRQChip: KVM_CAP_SPLIT_IRQCHIP
        case .ioeventfdAnyLength: KVM_CAP_IOEVENTFD_ANY_LENGTH
        case .x2apicAPI: KVM_CAP_X2APIC_API
        case .immediateExit: KVM_CAP_IMMEDIATE_EXIT
        case .getMSRFeatures: KVM_CAP_GET_MSR_FEATURES
        case .manualDirtyLogProtect2: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
        case .maxVCPUID: KVM_CAP_MAX_VCPU_ID
        case .x86DisableExits: KVM_CAP_X86_DISABLE_EXITS
        case .dirtyLogRing: KVM_CAP_DIRTY_LOG_RING
        case .xsave2: KVM_CAP_XSAVE2
        case .sysAttributes: KVM_CAP_SYS_ATTRIBUTES
        }
    }

    /// The kernel's name, for example `"KVM_CAP_IRQFD"`.
    public var description: String {
        switch self {
        case .irqchip: "KVM_CAP_IRQCHIP"
        case .hlt: "KVM_CAP_HLT"
        case .userMemory: "KVM_CAP_USER_MEMORY"
        case .setTSSAddress: "KVM_CAP_SET_TSS_ADDR"
        case .extendedCPUID: "KVM_CAP_EXT_CPUID"
        case .clockSource: "KVM_CAP_CLOCKSOURCE"
        case .recommendedVCPUs: "KVM_CAP_NR_VCPUS"
        case .memorySlots: "KVM_CAP_NR_MEMSLOTS"
        case .pit: "KVM_CAP_PIT"
        case .nopIODelay: "KVM_CAP_NOP_IO_DELAY"
        case .mpState: "KVM_CAP_MP_STATE"
        case .coalescedMMIO: "KVM_CAP_COALESCED_MMIO"
        case .syncMMU: "KVM_CAP_SYNC_MMU"
        case .userNMI: "KVM_CAP_USER_NMI"
        case .setGuestDebug: "KVM_CAP_SET_GUEST_DEBUG"
        case .reinjectControl: "KVM_CAP_REINJECT_CONTROL"
        case .irqRouting: "KVM_CAP_IRQ_ROUTING"
        case .irqInjectStatus: "KVM_CAP_IRQ_INJECT_STATUS"
        case .mce: "KVM_CAP_MCE"
        case .irqfd: "KVM_CAP_IRQFD"
        case .pit2: "KVM_CAP_PIT2"
        case .setBootCPUID: "KVM_CAP_SET_BOOT_CPU_ID"
        case .pitState2: "KVM_CAP_PIT_STATE2"
        case .ioeventfd: "KVM_CAP_IOEVENTFD"
        case .setIdentityMapAddress: "KVM_CAP_SET_IDENTITY_MAP_ADDR"
        case .adjustClock: "KVM_CAP_ADJUST_CLOCK"
        case .internalErrorData: "KVM_CAP_INTERNAL_ERROR_DATA"
        case .vcpuEvents: "KVM_CAP_VCPU_EVENTS"
        case .interruptShadow: "KVM_CAP_INTR_SHADOW"
        case .debugRegisters: "KVM_CAP_DEBUGREGS"
        case .x86RobustSingleStep: "KVM_CAP_X86_ROBUST_SINGLESTEP"
        case .enableCap: "KVM_CAP_ENABLE_CAP"
        case .xsave: "KVM_CAP_XSAVE"
        case .xcrs: "KVM_CAP_XCRS"
        case .asyncPageFault: "KVM_CAP_ASYNC_PF"
        case .tscControl: "KVM_CAP_TSC_CONTROL"
        case .getTSCKHz: "KVM_CAP_GET_TSC_KHZ"
        case .maxVCPUs: "KVM_CAP_MAX_VCPUS"
        case .oneReg: "KVM_CAP_ONE_REG"
        case .tscDeadlineTimer: "KVM_CAP_TSC_DEADLINE_TIMER"
        case .syncRegs: "KVM_CAP_SYNC_REGS"
        case .kvmclockControl: "KVM_CAP_KVMCLOCK_CTRL"
        case .signalMSI: "KVM_CAP_SIGNAL_MSI"
        case .readOnlyMemory: "KVM_CAP_READONLY_MEM"
        case .irqfdResample: "KVM_CAP_IRQFD_RESAMPLE"
        case .deviceControl: "KVM_CAP_DEVICE_CTRL"
        case .emulatedCPUID: "KVM_CAP_EXT_EMUL_CPUID"
        case .ioapicPolarityIgnored: "KVM_CAP_IOAPIC_POLARITY_IGNORED"
        case .enableCapVM: "KVM_CAP_ENABLE_CAP_VM"
        case .ioeventfdNoLength: "KVM_CAP_IOEVENTFD_NO_LENGTH"
        case .vmAttributes: "KVM_CAP_VM_ATTRIBUTES"
        case .checkExtensionVM: "KVM_CAP_CHECK_EXTENSION_VM"
        case .disableQuirks: "KVM_CAP_DISABLE_QUIRKS"
        case .x86SMM: "KVM_CAP_X86_SMM"
        case .multiAddressSpace: "KVM_CAP_MULTI_ADDRESS_SPACE"
        case .guestDebugHardwareBreakpoints: "KVM_CAP_GUEST_DEBUG_HW_BPS"
        case .guestDebugHardwareWatchpoints: "KVM_CAP_GUEST_DEBUG_HW_WPS"
        case .splitIRQChip: "KVM_CAP_SPLIT_IRQCHIP"
        case .ioeventfdAnyLength: "KVM_CAP_IOEVENTFD_ANY_LENGTH"
        case .x2apicAPI: "KVM_CAP_X2APIC_API"
        case .immediateExit: "KVM_CAP_IMMEDIATE_EXIT"
        case .getMSRFeatures: "KVM_CAP_GET_MSR_FEATURES"
        case .manualDirtyLogProtect2: "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2"
        case .maxVCPUID: "KVM_CAP_MAX_VCPU_ID"
        case .x86DisableExits: "KVM_CAP_X86_DISABLE_EXITS"
        case .dirtyLogRing: "KVM_CAP_DIRTY_LOG_RING"
        case .xsave2: "KVM_CAP_XSAVE2"
        case .sysAttributes: "KVM_CAP_SYS_ATTRIBUTES"
        }
    }
}
