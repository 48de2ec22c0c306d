// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The `VIRTIO_F_EVENT_IDX` arithmetic, on free-running 16-bit ring indices.
///
/// The other side publishes an event index `e`: "notify me once the ring index
/// moves past `e`". Having moved the index from `old` to `new`, a notification is
/// due exactly when `e` lies in `[old, new)`, counted modulo 2^16. Subtracting
/// everything from `new` turns that into one unsigned comparison that stays
/// right when the indices wrap at 65536: `new - e - 1 < new - old`.
///
/// ```swift
/// EventIndex.needsNotification(event: 0xffff, new: 1, old: 0xfffe)  // true: 0xffff was crossed
/// EventIndex.needsNotification(event: 5, new: 5, old: 3)            // false: 5 not reached yet
/// ```
public enum EventIndex {
    /// Whether moving an index from `old` to `new` crosses the published `event` index.
    @inlinable
    public static func needsNotification(event: UInt16, new: UInt16, old: UInt16) -> Bool {
        // Both sides are distances behind `new`: how far back the event lies (minus
        // one, so an event at `new` itself is "not yet"), and how far we moved.
        (new &- event &- 1) < (new &- old)
    }

    /// The packed-ring form: `offWrap` is a packed event suppression `desc` field
    /// (bits 0-14 a ring slot, bit 15 the wrap counter it refers to); `new` is the
    /// device's next used slot with its wrap counter `wrap`; `old` is the slot the
    /// device had reached at the previous check, possibly in the previous lap (then
    /// below zero in 16-bit two's complement, `new - moved`).
    ///
    /// An event slot published for the previous lap is moved below zero the same
    /// way, so slots of both laps compare on one line of 16-bit indices. `size`
    /// is at most 2^15, so every value involved lies in `[-size, size)` and the
    /// 16-bit differences cannot be ambiguous.
    @inlinable
    public static func needsPackedNotification(
        offWrap: UInt16, new: UInt16, wrap: Bool, moved: UInt16, size: UInt16
    ) -> Bool {
        var event = offWrap & 0x7fff
        let eventWrap = offWrap & 0x8000 != 0
        if eventWrap != wrap { event = event &- size }
        return needsNotification(event: event, new: new, old: new &- moved)
    }
}
