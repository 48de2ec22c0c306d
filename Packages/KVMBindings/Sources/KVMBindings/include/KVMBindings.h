// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// The C view of <linux/kvm.h> for Swift. Structs, KVM_EXIT_* and KVM_CAP_* import
// directly; two things do not, and this header supplies exactly those:
//  - ioctl request numbers (_IOW/_IOR/_IOWR macros never import): re-exported
//    below as `static const unsigned long` with a `KVMB_` prefix;
//  - flexible array members (dropped by the importer): one accessor per array.
// Nothing else belongs here; logic lives in KVMIoctls.
#ifndef KVMBINDINGS_H
#define KVMBINDINGS_H

#include <linux/kvm.h>
#include <stddef.h>

// MARK: ioctl request numbers
static const unsigned long KVMB_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long KVMB_CREATE_VM = KVM_CREATE_VM;
static const unsigned long KVMB_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long KVMB_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long KVMB_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long KVMB_GET_EMULATED_CPUID = KVM_GET_EMULATED_CPUID;
static const unsigned long KVMB_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
static const unsigned long KVMB_GET_MSR_FEATURE_INDEX_LIST = KVM_GET_MSR_FEATURE_INDEX_LIST;
static const unsigned long KVMB_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long KVMB_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long KVMB_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
static const unsigned long KVMB_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
static const unsigned long KVMB_GET_IRQCHIP = KVM_GET_IRQCHIP;
static const unsigned long KVMB_SET_IRQCHIP = KVM_SET_IRQCHIP;
static const unsigned long KVMB_CREATE_PIT2 = KVM_CREATE_PIT2;
static const unsigned long KVMB_GET_PIT2 = KVM_GET_PIT2;
static const unsigned long KVMB_SET_PIT2 = KVM_SET_PIT2;
static const unsigned long KVMB_IRQ_LINE = KVM_IRQ_LINE;
static const unsigned long KVMB_IRQ_LINE_STATUS = KVM_IRQ_LINE_STATUS;
static const unsigned long KVMB_IRQFD = KVM_IRQFD;
static const unsigned long KVMB_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long KVMB_SIGNAL_MSI = KVM_SIGNAL_MSI;
static const unsigned long KVMB_SET_GSI_ROUTING = KVM_SET_GSI_ROUTING;
static const unsigned long KVMB_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long KVMB_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
static const unsigned long KVMB_GET_CLOCK = KVM_GET_CLOCK;
static const unsigned long KVMB_SET_CLOCK = KVM_SET_CLOCK;
static const unsigned long KVMB_ENABLE_CAP = KVM_ENABLE_CAP;
static const unsigned long KVMB_CREATE_DEVICE = KVM_CREATE_DEVICE;
static const unsigned long KVMB_SET_DEVICE_ATTR = KVM_SET_DEVICE_ATTR;
static const unsigned long KVMB_GET_DEVICE_ATTR = KVM_GET_DEVICE_ATTR;
static const unsigned long KVMB_HAS_DEVICE_ATTR = KVM_HAS_DEVICE_ATTR;
static const unsigned long KVMB_RUN = KVM_RUN;
static const unsigned long KVMB_GET_REGS = KVM_GET_REGS;
static const unsigned long KVMB_SET_REGS = KVM_SET_REGS;
static const unsigned long KVMB_GET_SREGS = KVM_GET_SREGS;
static const unsigned long KVMB_SET_SREGS = KVM_SET_SREGS;
static const unsigned long KVMB_GET_FPU = KVM_GET_FPU;
static const unsigned long KVMB_SET_FPU = KVM_SET_FPU;
static const unsigned long KVMB_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long KVMB_SET_LAPIC = KVM_SET_LAPIC;
static const unsigned long KVMB_GET_MSRS = KVM_GET_MSRS;
static const unsigned long KVMB_SET_MSRS = KVM_SET_MSRS;
static const unsigned long KVMB_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long KVMB_GET_CPUID2 = KVM_GET_CPUID2;
static const unsigned long KVMB_GET_MP_STATE = KVM_GET_MP_STATE;
static const unsigned long KVMB_SET_MP_STATE = KVM_SET_MP_STATE;
static const unsigned long KVMB_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long KVMB_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long KVMB_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long KVMB_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long KVMB_GET_XCRS = KVM_GET_XCRS;
static const unsigned long KVMB_SET_XCRS = KVM_SET_XCRS;
static const unsigned long KVMB_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long KVMB_SET_DEBUGREGS = KVM_SET_DEBUGREGS;
static const unsigned long KVMB_SET_GUEST_DEBUG = KVM_SET_GUEST_DEBUG;
static const unsigned long KVMB_INTERRUPT = KVM_INTERRUPT;
static const unsigned long KVMB_NMI = KVM_NMI;
static const unsigned long KVMB_TRANSLATE = KVM_TRANSLATE;
static const unsigned long KVMB_KVMCLOCK_CTRL = KVM_KVMCLOCK_CTRL;
static const unsigned long KVMB_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
static const unsigned long KVMB_SET_TSC_KHZ = KVM_SET_TSC_KHZ;

// MARK: flexible array accessors
// Each returns a pointer to element 0 of the struct's trailing array. The caller
// allocates the struct with room for the elements (see the *_size helpers).

/// kvm_cpuid2.entries
static inline struct kvm_cpuid_entry2 *kvmb_cpuid2_entries(struct kvm_cpuid2 *cpuid) { return cpuid->entries; }
/// Bytes needed for a kvm_cpuid2 with `count` entries.
static inline size_t kvmb_cpuid2_size(unsigned int count) {
    return sizeof(struct kvm_cpuid2) + (size_t)count * sizeof(struct kvm_cpuid_entry2);
}

/// kvm_msrs.entries
static inline struct kvm_msr_entry *kvmb_msrs_entries(struct kvm_msrs *msrs) { return msrs->entries; }
/// Bytes needed for a kvm_msrs with `count` entries.
static inline size_t kvmb_msrs_size(unsigned int count) {
    return sizeof(struct kvm_msrs) + (size_t)count * sizeof(struct kvm_msr_entry);
}

/// kvm_msr_list.indices
static inline __u32 *kvmb_msr_list_indices(struct kvm_msr_list *list) { return list->indices; }
/// Bytes needed for a kvm_msr_list with `count` indices.
static inline size_t kvmb_msr_list_size(unsigned int count) {
    return sizeof(struct kvm_msr_list) + (size_t)count * sizeof(__u32);
}

/// kvm_irq_routing.entries
static inline struct kvm_irq_routing_entry *kvmb_irq_routing_entries(struct kvm_irq_routing *routing) {
    return routing->entries;
}
/// Bytes needed for a kvm_irq_routing with `count` entries.
static inline size_t kvmb_irq_routing_size(unsigned int count) {
    return sizeof(struct kvm_irq_routing) + (size_t)count * sizeof(struct kvm_irq_routing_entry);
}

/// kvm_dirty_log.dirty_bitmap (a pointer inside an anonymous union).
static inline void kvmb_dirty_log_set_bitmap(struct kvm_dirty_log *log, void *bitmap) { log->dirty_bitmap = bitmap; }

/// kvm_signal_msi has no flexible array; kvm_xsave's trailing `extra` is only
/// used with KVM_GET_XSAVE2, which this layer does not call.

#endif
