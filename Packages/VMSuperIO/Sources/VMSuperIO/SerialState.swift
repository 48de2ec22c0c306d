// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Everything a guest can observe of a ``Serial`` port, for snapshots: the registers, both
/// FIFOs' contents and the pending transmitter-empty interrupt. Counters, the sink and the
/// interrupt output are the VMM's, not the guest's, and are not part of it.
///
/// ```swift
/// let saved = serial.state
/// var fresh = Serial(interrupt: trigger, sink: sink)
/// try fresh.restore(saved)   // the line is driven from the restored registers
/// ```
public struct SerialState: Hashable, Sendable {
    /// Divisor latch, low and high bytes.
    public var divisorLow: UInt8, divisorHigh: UInt8
    /// IER, LCR, MCR and the scratch register.
    public var interruptEnable: UInt8, lineControl: UInt8, modemControl: UInt8, scratch: UInt8
    /// Latched LSR error bits (overrun, parity, framing, break).
    public var lineErrors: UInt8
    /// MSR delta bits not yet read, and the modem inputs they were computed from.
    public var modemDeltas: UInt8, lastModemInputs: UInt8
    /// FCR bit 0, and the receive trigger level it set (1, 4, 8 or 14, at most the FIFO size).
    public var fifosEnabled: Bool, triggerLevel: Int
    /// A THRE interrupt is pending (not yet acknowledged by reading IIR or writing THR).
    public var transmitterEmptyPending: Bool
    /// Received bytes the guest has not read, oldest first.
    public var receive: [UInt8]
    /// Transmitted bytes the sink has not taken yet, oldest first.
    public var transmit: [UInt8]

    /// A state with every field given.
    public init(
        divisorLow: UInt8, divisorHigh: UInt8, interruptEnable: UInt8, lineControl: UInt8, modemControl: UInt8,
        scratch: UInt8, lineErrors: UInt8, modemDeltas: UInt8, lastModemInputs: UInt8, fifosEnabled: Bool,
        triggerLevel: Int, transmitterEmptyPending: Bool, receive: [UInt8], transmit: [UInt8]
    ) {
        self.divisorLow = divisorLow
        self.divisorHigh = divisorHigh
        self.interruptEnable = interruptEnable
        self.lineControl = lineControl
        self.modemControl = modemControl
        self.scratch = scratch
        self.lineErrors = lineErrors
        self.modemDeltas = modemDeltas
        self.lastModemInputs = lastModemInputs
        self.fifosEnabled = fifosEnabled
        self.triggerLevel = triggerLevel
        self.transmitterEmptyPending = transmitterEmptyPending
        self.receive = receive
        self.transmit = transmit
    }
}

/// Why a ``SerialState`` cannot be restored into a port.
///
/// ```swift
/// do { try serial.restore(saved) } catch { print(error) }   // "receive FIFO: 20 bytes, capacity 16"
/// ```
public enum SerialStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The receive (`transmit` false) or transmit FIFO holds more bytes than this port's
    /// FIFOs, or, with FIFOs off, than its one-byte holding register.
    case fifoOverflow(transmit: Bool, count: Int, capacity: Int)
    /// A trigger level no FCR write can set.
    case triggerLevel(Int)
    /// Bits the register at `offset` (``UARTRegister``) cannot hold: IER's upper nibble,
    /// LSR bits other than the four errors, MSR deltas in the upper or inputs in the lower nibble.
    case register(offset: UInt8, value: UInt8)

    /// One line.
    public var description: String {
        switch self {
        case .fifoOverflow(let transmit, let count, let capacity):
            "\(transmit ? "transmit" : "receive") FIFO: \(count) bytes, capacity \(capacity)"
        case .triggerLevel(let level): "receive trigger level \(level) is not 1, 4, 8 or 14"
        case .register(let offset, let value):
            "\(["THR", "IER", "IIR", "LCR", "MCR", "LSR", "MSR", "SCR"][Int(offset & 7)]) state "
                + "0x\(String(value, radix: 16)) has bits the register lacks"
        }
    }
}

extension Serial {
    /// The port's guest-visible state.
    public var state: SerialState {
        SerialState(
            divisorLow: divisorLow, divisorHigh: divisorHigh, interruptEnable: interruptEnable,
            lineControl: lineControl, modemControl: modemControl, scratch: scratch, lineErrors: lineErrors,
            modemDeltas: modemDeltas, lastModemInputs: lastModemInputs, fifosEnabled: fifosEnabled,
            triggerLevel: triggerLevel, transmitterEmptyPending: transmitterEmptyPending,
            receive: receiveFIFO.contents, transmit: transmitFIFO.contents)
    }

    /// Puts the port in `state` (checked first: on error the port is unchanged) and drives the
    /// interrupt line from it. Bytes in the transmit FIFO go out on the next ``flushOutput()``.
    public mutating func restore(_ state: SerialState) throws(SerialStateError) {
        let limit = state.fifosEnabled ? receiveFIFO.capacity : 1
        guard state.receive.count <= limit else {
            throw .fifoOverflow(transmit: false, count: state.receive.count, capacity: limit)
        }
        guard state.transmit.count <= limit else {
            throw .fifoOverflow(transmit: true, count: state.transmit.count, capacity: limit)
        }
        guard [1, 4, 8, 14].map({ min($0, receiveFIFO.capacity) }).contains(state.triggerLevel) else {
            throw .triggerLevel(state.triggerLevel)
        }
        guard state.interruptEnable & 0xf0 == 0 else {
            throw .register(offset: UARTRegister.interruptEnable, value: state.interruptEnable)
        }
        guard state.lineErrors & ~Self.lsrErrors == 0 else {
            throw .register(offset: UARTRegister.lineStatus, value: state.lineErrors)
        }
        guard state.modemDeltas & 0xf0 == 0 else {
            throw .register(offset: UARTRegister.modemStatus, value: state.modemDeltas)
        }
        guard state.lastModemInputs & 0x0f == 0 else {
            throw .register(offset: UARTRegister.modemStatus, value: state.lastModemInputs)
        }
        divisorLow = state.divisorLow
        divisorHigh = state.divisorHigh
        interruptEnable = state.interruptEnable
        lineControl = state.lineControl
        modemControl = state.modemControl
        scratch = state.scratch
        lineErrors = state.lineErrors
        modemDeltas = state.modemDeltas
        lastModemInputs = state.lastModemInputs
        fifosEnabled = state.fifosEnabled
        triggerLevel = state.triggerLevel
        transmitterEmptyPending = state.transmitterEmptyPending
        receiveFIFO.removeAll()
        for byte in state.receive { _ = receiveFIFO.push(byte) }
        transmitFIFO.removeAll()
        for byte in state.transmit { _ = transmitFIFO.push(byte) }
        refreshDirectTransmit()
        updateInterrupt()
    }
}

#if !hasFeature(Embedded)
// VMMs store the state in their snapshots (integration-vmm as JSON); Embedded Swift has no Codable.
extension SerialState: Codable {}
#endif
