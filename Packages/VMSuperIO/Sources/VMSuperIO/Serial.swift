// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Register offsets and bits of the 16550A (National Semiconductor datasheet),
/// named as Linux's `serial_reg.h` does.
public enum UARTRegister {
    /// Receive buffer (read) / transmit holding (write); divisor latch low with DLAB.
    public static let data: UInt8 = 0
    /// Interrupt enable; divisor latch high with DLAB.
    public static let interruptEnable: UInt8 = 1
    /// Interrupt identification (read) / FIFO control (write).
    public static let interruptIdentification: UInt8 = 2
    /// Line control (word length, parity, stop bits, break, DLAB).
    public static let lineControl: UInt8 = 3
    /// Modem control (DTR, RTS, OUT1, OUT2, loopback).
    public static let modemControl: UInt8 = 4
    /// Line status (data ready, overrun, THRE, TEMT ...).
    public static let lineStatus: UInt8 = 5
    /// Modem status (CTS, DSR, RI, DCD and their deltas).
    public static let modemStatus: UInt8 = 6
    /// Scratch register: stores a byte, nothing else.
    public static let scratch: UInt8 = 7
}

/// Construction parameters of a ``Serial`` port.
///
/// ```swift
/// let configuration = SerialConfiguration(fifoCapacity: 64)
/// ```
public struct SerialConfiguration: Sendable, Equatable {
    /// Size of the receive and transmit FIFOs in bytes (16 on a real 16550A).
    /// Clamped to 1...65536.
    public var fifoCapacity: Int

    /// Creates a configuration; the default is the datasheet's 16-byte FIFOs.
    public init(fifoCapacity: Int = 16) {
        self.fifoCapacity = min(max(fifoCapacity, 1), 65536)
    }
}

/// A 16550A UART: every register, the divisor latch, receive and transmit FIFOs
/// of a configurable size with back-pressure, the four interrupt sources with the
/// datasheet's priorities, line and modem status, loopback and scratch.
///
/// The model is pure logic: the VMM routes port I/O at the base address (0x3f8
/// for COM1) to ``read(offset:)`` and ``write(offset:value:)``, feeds host input
/// through ``enqueueInput(_:)``, and serializes calls (one lock per port).
/// Transmission is immediate: a byte written to THR reaches the sink during the
/// write, so THRE is set again at once unless the sink pushes back.
///
/// Register access is `@inlinable` so the VMM's module specializes it for its own
/// trigger and sink types, as Rust monomorphizes vm-superio; unspecialized, every
/// access went through generic witness calls and `vmm-tools bench serial` measured
/// about a fifth of the throughput.
///
/// ```swift
/// var serial = Serial(interrupt: trigger, sink: DiscardingSink())
/// serial.write(offset: UARTRegister.interruptEnable, value: 0x01)  // RX data interrupt
/// _ = serial.enqueueInput([0x68, 0x69])                          // trigger.raise()
/// let byte = serial.read(offset: UARTRegister.data)               // 0x68
/// ```
public struct Serial<Trigger: InterruptTrigger, Sink: SerialSink> {
    // IER bits (the 16550A implements the low four; the rest read as zero).
    @inlinable static var ierReceivedData: UInt8 { 0x01 }
    @inlinable static var ierTransmitterEmpty: UInt8 { 0x02 }
    @inlinable static var ierLineStatus: UInt8 { 0x04 }
    @inlinable static var ierModemStatus: UInt8 { 0x08 }
    // LCR bits.
    @inlinable static var lcrDivisorLatch: UInt8 { 0x80 }
    // MCR bits (bits 5-7 are not implemented on the 16550A).
    @inlinable static var mcrDTR: UInt8 { 0x01 }
    @inlinable static var mcrRTS: UInt8 { 0x02 }
    @inlinable static var mcrOut1: UInt8 { 0x04 }
    @inlinable static var mcrOut2: UInt8 { 0x08 }
    @inlinable static var mcrLoopback: UInt8 { 0x10 }
    // LSR bits.
    @inlinable static var lsrDataReady: UInt8 { 0x01 }
    @inlinable static var lsrOverrun: UInt8 { 0x02 }
    @inlinable static var lsrErrors: UInt8 { 0x1e }  // overrun, parity, framing, break
    @inlinable static var lsrTHRE: UInt8 { 0x20 }
    @inlinable static var lsrTEMT: UInt8 { 0x40 }
    // MSR status bits (high nibble) and their delta bits (low nibble).
    @inlinable static var msrCTS: UInt8 { 0x10 }
    @inlinable static var msrDSR: UInt8 { 0x20 }
    @inlinable static var msrRI: UInt8 { 0x40 }
    @inlinable static var msrDCD: UInt8 { 0x80 }
    @inlinable static var msrTrailingEdgeRI: UInt8 { 0x04 }
    // IIR values.
    @inlinable static var iirNoInterrupt: UInt8 { 0x01 }
    @inlinable static var iirLineStatus: UInt8 { 0x06 }
    @inlinable static var iirReceivedData: UInt8 { 0x04 }
    @inlinable static var iirCharacterTimeout: UInt8 { 0x0c }
    @inlinable static var iirTransmitterEmpty: UInt8 { 0x02 }
    @inlinable static var iirModemStatus: UInt8 { 0x00 }
    @inlinable static var iirFIFOsEnabled: UInt8 { 0xc0 }
    // FCR bits.
    @inlinable static var fcrEnable: UInt8 { 0x01 }
    @inlinable static var fcrClearReceive: UInt8 { 0x02 }
    @inlinable static var fcrClearTransmit: UInt8 { 0x04 }

    /// The interrupt output; raised and lowered on transitions only.
    public let interrupt: Trigger
    /// Where transmitted bytes go.
    public var sink: Sink
    /// Traffic counters.
    @inlinable public var counters: SerialCounters { stats }
    @usableFromInline var stats = SerialCounters()

    @usableFromInline var receiveFIFO: ByteRing
    @usableFromInline var transmitFIFO: ByteRing
    @usableFromInline var divisorLow: UInt8 = 0x0c  // 9600 baud from the 1.8432 MHz clock
    @usableFromInline var divisorHigh: UInt8 = 0
    @usableFromInline var interruptEnable: UInt8 = 0
    @usableFromInline var lineControl: UInt8 = 0x03  // 8N1
    @usableFromInline var modemControl: UInt8 = 0
    @usableFromInline var lineErrors: UInt8 = 0  // OE/PE/FE/BI, cleared by reading LSR
    @usableFromInline var modemDeltas: UInt8 = 0  // MSR low nibble, cleared by reading MSR
    @usableFromInline var lastModemInputs: UInt8
    @usableFromInline var scratch: UInt8 = 0
    @usableFromInline var fifosEnabled = false
    @usableFromInline var triggerLevel = 1
    /// THRE interrupt pending: set when THR becomes empty (or THRE is enabled
    /// while empty), cleared by reading IIR with THRE as the source or writing THR.
    @usableFromInline var transmitterEmptyPending = false
    @usableFromInline var interruptAsserted = false
    /// DLAB clear, loopback off and the transmit FIFO empty: a THR write can go
    /// straight to the sink. Kept up to date by ``refreshDirectTransmit()`` so the
    /// hot path tests one flag instead of three registers.
    @usableFromInline var directTransmit = true

    /// The modem inputs a port sees outside loopback: a connected peer with
    /// CTS, DSR and DCD asserted and no ring (what terminal emulators expect).
    @inlinable static var connectedModemInputs: UInt8 { msrCTS | msrDSR | msrDCD }

    /// Creates a port in its power-on state (FIFOs off, 8N1, interrupts disabled).
    public init(interrupt: Trigger, sink: Sink, configuration: SerialConfiguration = SerialConfiguration()) {
        self.interrupt = interrupt
        self.sink = sink
        receiveFIFO = ByteRing(capacity: configuration.fifoCapacity)
        transmitFIFO = ByteRing(capacity: configuration.fifoCapacity)
        lastModemInputs = Self.connectedModemInputs
    }

    /// Size of each FIFO as configured (in effect only while FIFOs are enabled;
    /// with FIFOs disabled the port holds one byte each way, like an 8250).
    @inlinable public var fifoCapacity: Int { receiveFIFO.capacity }

    /// Receive bytes the port can take right now.
    @inlinable public var inputSpace: Int {
        if modemControl & Self.mcrLoopback != 0 { return 0 }
        return receiveLimit - receiveFIFO.count
    }

    /// Bytes waiting in the transmit FIFO because the sink pushed back.
    @inlinable public var pendingOutput: Int { transmitFIFO.count }

    /// Whether the interrupt output is currently active.
    @inlinable public var isInterruptAsserted: Bool { interruptAsserted }

    /// The divisor latch value (baud = 115200 / divisor).
    @inlinable public var divisor: UInt16 { UInt16(divisorHigh) << 8 | UInt16(divisorLow) }

    @inlinable var receiveLimit: Int { fifosEnabled ? receiveFIFO.capacity : 1 }
    @inlinable var transmitLimit: Int { fifosEnabled ? transmitFIFO.capacity : 1 }
    @inlinable var isLoopback: Bool { modemControl & Self.mcrLoopback != 0 }
    @inlinable var divisorLatchAccess: Bool { lineControl & Self.lcrDivisorLatch != 0 }

    // MARK: - Guest register access

    /// Handles a guest read of the register at `offset` (0...7 from the base port).
    @inlinable @inline(__always)
    public mutating func read(offset: UInt8) -> UInt8 {
        // Drivers poll LSR before every byte; without errors to clear it is a pure read.
        if offset == UARTRegister.lineStatus && lineErrors == 0 { return lineStatus }
        return readRegister(offset: offset)
    }

    @inlinable mutating func readRegister(offset: UInt8) -> UInt8 {
        // Reads without side effects return at once; the others may change which
        // interrupt is pending and end by updating the line.
        let value: UInt8
        switch offset {
        case UARTRegister.data where divisorLatchAccess:
            return divisorLow
        case UARTRegister.data:
            guard let byte = receiveFIFO.pop() else { return 0 }
            value = byte
        case UARTRegister.interruptEnable:
            return divisorLatchAccess ? divisorHigh : interruptEnable
        case UARTRegister.interruptIdentification:
            let source = pendingSource()
            value = source | (fifosEnabled ? Self.iirFIFOsEnabled : 0)
            // Reading IIR acknowledges a THRE interrupt when it is the one reported.
            guard source == Self.iirTransmitterEmpty else { return value }
            transmitterEmptyPending = false
        case UARTRegister.lineControl:
            return lineControl
        case UARTRegister.modemControl:
            return modemControl
        case UARTRegister.lineStatus:
            value = lineStatus
            // Reading LSR clears the error bits (and with them a line-status interrupt).
            guard lineErrors != 0 else { return value }
            lineErrors = 0
        case UARTRegister.modemStatus:
            value = modemInputs | modemDeltas
            guard modemDeltas != 0 else { return value }
            modemDeltas = 0
        case UARTRegister.scratch:
            return scratch
        default:
            return 0xff
        }
        updateInterrupt()
        return value
    }

    /// Handles a guest write of `value` to the register at `offset` (0...7).
    @inlinable @inline(__always)
    public mutating func write(offset: UInt8, value: UInt8) {
        // Small enough to inline into the VMM's dispatch: THR writes are the
        // console's hot path; everything else goes through writeRegister.
        if offset == UARTRegister.data && directTransmit && sink.write(value) {
            transmitted()
        } else if offset == UARTRegister.data && !divisorLatchAccess {
            transmitSlowly(value)
        } else {
            writeRegister(offset: offset, value: value)
        }
    }

    @inlinable mutating func writeRegister(offset: UInt8, value: UInt8) {
        switch offset {
        case UARTRegister.data:
            divisorLow = value
        case UARTRegister.interruptEnable where divisorLatchAccess:
            divisorHigh = value
        case UARTRegister.interruptEnable:
            let enabled = value & 0x0f
            // Enabling THRE while the transmitter is empty raises it at once
            // (Linux's serial8250_startup checks this to detect UART_BUG_THRE).
            if enabled & ~interruptEnable & Self.ierTransmitterEmpty != 0 && transmitFIFO.isEmpty {
                transmitterEmptyPending = true
            }
            interruptEnable = enabled
        case UARTRegister.interruptIdentification:
            writeFIFOControl(value)
        case UARTRegister.lineControl:
            lineControl = value
            refreshDirectTransmit()
        case UARTRegister.modemControl:
            modemControl = value & 0x1f
            noteModemInputs()
            refreshDirectTransmit()
        case UARTRegister.scratch:
            scratch = value
        default:
            // LSR and MSR are read-only; writes to them (factory test) are ignored.
            break
        }
        updateInterrupt()
    }

    // MARK: - Host side

    /// Delivers host input into the receive FIFO, as much as fits; returns how many
    /// bytes of `bytes` were taken. The rest stays with the caller (back-pressure):
    /// retry after the guest reads, for example when ``inputSpace`` is non-zero.
    /// In loopback mode the serial input is disconnected and nothing is taken.
    @inlinable public mutating func enqueueInput<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int {
        var taken = 0
        if !isLoopback {
            for byte in bytes {
                guard receiveFIFO.count < receiveLimit, receiveFIFO.push(byte) else { break }
                taken += 1
            }
        }
        stats.bytesIn &+= UInt64(taken)
        if taken > 0 { updateInterrupt() }
        return taken
    }

    /// Delivers host input that cannot wait (a source without flow control): what
    /// does not fit is dropped and counted in ``SerialCounters/droppedInput``.
    /// Returns how many bytes were taken.
    @discardableResult
    @inlinable public mutating func enqueueInputDroppingOverflow<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int {
        var offered = 0
        var taken = 0
        for byte in bytes {
            offered += 1
            if !isLoopback && receiveFIFO.count < receiveLimit && receiveFIFO.push(byte) { taken += 1 }
        }
        stats.bytesIn &+= UInt64(taken)
        stats.droppedInput &+= UInt64(offered - taken)
        if taken > 0 { updateInterrupt() }
        return taken
    }

    /// Retries bytes the sink refused earlier; returns how many it took now. Call
    /// it when the sink can accept again. THRE (and its interrupt) come back once
    /// the transmit FIFO is empty.
    @discardableResult
    @inlinable public mutating func flushOutput() -> Int {
        var flushed = 0
        while let byte = transmitFIFO.first, sink.write(byte) {
            _ = transmitFIFO.pop()
            flushed += 1
        }
        stats.bytesOut &+= UInt64(flushed)
        refreshDirectTransmit()
        if flushed > 0 && transmitFIFO.isEmpty {
            transmitterEmptyPending = true
            updateInterrupt()
        }
        return flushed
    }

    // MARK: - Internals

    /// The console's hot path: the sink took a THR byte at once. THRE is pending
    /// again afterwards, so the line can only go from low to high, and only when
    /// THRE interrupts are enabled; no other source changes.
    @inlinable @inline(__always)
    mutating func transmitted() {
        stats.bytesOut &+= 1
        transmitterEmptyPending = true
        if interruptEnable & Self.ierTransmitterEmpty != 0 && !interruptAsserted {
            interruptAsserted = true
            interrupt.raise()
        }
    }

    @inlinable mutating func refreshDirectTransmit() {
        directTransmit = !divisorLatchAccess && !isLoopback && transmitFIFO.isEmpty
    }

    /// THR writes in loopback, while bytes wait for the sink, or that the sink refused.
    @inlinable mutating func transmitSlowly(_ byte: UInt8) {
        // Writing THR acknowledges a pending THRE interrupt; it comes back when the
        // byte has left.
        transmitterEmptyPending = false
        if isLoopback {
            // The transmitter is wired to the receiver: a full receive FIFO overruns.
            if !(receiveFIFO.count < receiveLimit && receiveFIFO.push(byte)) {
                lineErrors |= Self.lsrOverrun
                stats.droppedInput &+= 1
            }
            transmitterEmptyPending = true
        } else if !(transmitFIFO.count < transmitLimit && transmitFIFO.push(byte)) {
            // A full transmit FIFO loses the byte, as the hardware does when a
            // driver ignores THRE.
            stats.droppedOutput &+= 1
        }
        refreshDirectTransmit()
        updateInterrupt()
    }

    @inlinable mutating func writeFIFOControl(_ value: UInt8) {
        let enable = value & Self.fcrEnable != 0
        if enable != fifosEnabled {
            // Switching FIFO mode resets both FIFOs (datasheet, FCR bit 0).
            receiveFIFO.removeAll()
            discardTransmitFIFO()
            fifosEnabled = enable
        }
        // The other FCR bits are only written together with bit 0 set.
        guard enable else { return }
        if value & Self.fcrClearReceive != 0 { receiveFIFO.removeAll() }
        if value & Self.fcrClearTransmit != 0 { discardTransmitFIFO() }
        let levels = [1, 4, 8, 14]
        triggerLevel = min(levels[Int(value >> 6)], receiveFIFO.capacity)
    }

    @inlinable mutating func discardTransmitFIFO() {
        let discarded = transmitFIFO.removeAll()
        if discarded > 0 {
            stats.droppedOutput &+= UInt64(discarded)
            transmitterEmptyPending = true
        }
        refreshDirectTransmit()
    }

    @inlinable var lineStatus: UInt8 {
        var status = lineErrors
        if !receiveFIFO.isEmpty { status |= Self.lsrDataReady }
        if transmitFIFO.isEmpty { status |= Self.lsrTHRE | Self.lsrTEMT }
        return status
    }

    /// MSR high nibble: in loopback the modem outputs feed the inputs
    /// (RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD); otherwise a connected peer.
    @inlinable var modemInputs: UInt8 {
        guard isLoopback else { return Self.connectedModemInputs }
        var inputs: UInt8 = 0
        if modemControl & Self.mcrRTS != 0 { inputs |= Self.msrCTS }
        if modemControl & Self.mcrDTR != 0 { inputs |= Self.msrDSR }
        if modemControl & Self.mcrOut1 != 0 { inputs |= Self.msrRI }
        if modemControl & Self.mcrOut2 != 0 { inputs |= Self.msrDCD }
        return inputs
    }

    @inlinable mutating func noteModemInputs() {
        let inputs = modemInputs
        let changed = inputs ^ lastModemInputs
        // CTS, DSR and DCD report any change; RI only its trailing (1→0) edge.
        var deltas = (changed >> 4) & 0x0b
        if changed & lastModemInputs & Self.msrRI != 0 { deltas |= Self.msrTrailingEdgeRI }
        modemDeltas |= deltas
        lastModemInputs = inputs
    }

    /// The IIR interrupt code of the highest-priority enabled pending source.
    @inlinable func pendingSource() -> UInt8 {
        if interruptEnable & Self.ierLineStatus != 0 && lineErrors != 0 {
            return Self.iirLineStatus
        }
        if interruptEnable & Self.ierReceivedData != 0 && !receiveFIFO.isEmpty {
            // Below the trigger level a FIFO reports a character timeout; the model
            // reports it at once rather than after four character times.
            if fifosEnabled && receiveFIFO.count < triggerLevel { return Self.iirCharacterTimeout }
            return Self.iirReceivedData
        }
        if interruptEnable & Self.ierTransmitterEmpty != 0 && transmitterEmptyPending {
            return Self.iirTransmitterEmpty
        }
        if interruptEnable & Self.ierModemStatus != 0 && modemDeltas != 0 {
            return Self.iirModemStatus
        }
        return Self.iirNoInterrupt
    }

    /// Drives the interrupt output from the state after a whole register access,
    /// so a THR write that empties at once does not pulse the line.
    @inlinable mutating func updateInterrupt() {
        let active = pendingSource() != Self.iirNoInterrupt
        if active == interruptAsserted { return }
        interruptAsserted = active
        if active { interrupt.raise() } else { interrupt.lower() }
    }
}
