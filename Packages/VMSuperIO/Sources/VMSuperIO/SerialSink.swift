// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Where a UART's transmitted bytes go, implemented by the VMM (a terminal, a
/// non-blocking fd writer, a log ring).
///
/// A sink that cannot take a byte right now returns `false`; the UART then keeps
/// the byte in its bounded transmit FIFO, clears THRE so the guest driver waits,
/// and retries on ``Serial/flushOutput()``, which the VMM calls once the sink can
/// accept again (for example when epoll reports the fd writable).
///
/// ```swift
/// struct CountingSink: SerialSink {
///     var count = 0
///     mutating func write(_ byte: UInt8) -> Bool {
///         count += 1
///         return true
///     }
/// }
/// ```
public protocol SerialSink {
    /// Takes one byte; returns `false` when the byte cannot be accepted now.
    mutating func write(_ byte: UInt8) -> Bool
}

/// A sink that accepts and forgets every byte (a UART with nothing attached).
///
/// ```swift
/// var serial = Serial(interrupt: myTrigger, sink: DiscardingSink())
/// ```
public struct DiscardingSink: SerialSink {
    /// Creates the sink.
    public init() {}
    /// Accepts `byte` and drops it.
    @inlinable public mutating func write(_ byte: UInt8) -> Bool { true }
}

/// Traffic counters of a ``Serial`` port.
///
/// ```swift
/// print(serial.counters.bytesOut)
/// ```
public struct SerialCounters: Sendable, Equatable {
    /// Bytes the host delivered into the receive FIFO.
    public var bytesIn: UInt64 = 0
    /// Bytes the sink accepted from the transmitter.
    public var bytesOut: UInt64 = 0
    /// Received bytes lost: receive-FIFO overruns (loopback) and host input
    /// offered through ``Serial/enqueueInputDroppingOverflow(_:)`` that did not fit.
    public var droppedInput: UInt64 = 0
    /// Transmitted bytes lost: written while the transmit FIFO was full of bytes
    /// the sink refused, or discarded by a transmit-FIFO reset.
    public var droppedOutput: UInt64 = 0

    /// All counters at zero.
    public init() {}
}
