// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMSuperIO

// Register offsets and bits as Linux's include/uapi/linux/serial_reg.h names them.
private let RX: UInt8 = 0, TX: UInt8 = 0, DLL: UInt8 = 0, DLM: UInt8 = 1, IER: UInt8 = 1
private let IIR: UInt8 = 2, FCR: UInt8 = 2, EFR: UInt8 = 2, LCR: UInt8 = 3, MCR: UInt8 = 4
private let LSR: UInt8 = 5, MSR: UInt8 = 6, SCR: UInt8 = 7
private let IER_RDI: UInt8 = 0x01, IER_THRI: UInt8 = 0x02, IER_RLSI: UInt8 = 0x04, IER_MSI: UInt8 = 0x08
private let IER_UUE: UInt8 = 0x40
private let IIR_NO_INT: UInt8 = 0x01, IIR_ID: UInt8 = 0x0e, IIR_THRI: UInt8 = 0x02, IIR_RDI: UInt8 = 0x04
private let IIR_RLSI: UInt8 = 0x06, IIR_RX_TIMEOUT: UInt8 = 0x0c, IIR_MSI: UInt8 = 0x00
private let FCR_ENABLE_FIFO: UInt8 = 0x01, FCR_CLEAR_RCVR: UInt8 = 0x02, FCR_CLEAR_XMIT: UInt8 = 0x04
private let FCR_R_TRIG_10: UInt8 = 0x80, FCR7_64BYTE: UInt8 = 0x20
private let LCR_WLEN8: UInt8 = 0x03, LCR_DLAB: UInt8 = 0x80, LCR_CONF_MODE_A: UInt8 = 0x80
private let LCR_CONF_MODE_B: UInt8 = 0xbf
private let MCR_DTR: UInt8 = 0x01, MCR_RTS: UInt8 = 0x02, MCR_OUT1: UInt8 = 0x04, MCR_OUT2: UInt8 = 0x08
private let MCR_LOOP: UInt8 = 0x10
private let LSR_DR: UInt8 = 0x01, LSR_OE: UInt8 = 0x02, LSR_THRE: UInt8 = 0x20, LSR_TEMT: UInt8 = 0x40

typealias TestSerial = Serial<CountingTrigger, CollectingSink>

/// The UART as Linux's 8250 driver sees it: serial_in / serial_out.
private struct Port {
    var uart: TestSerial
    let irq: CountingTrigger
    init(fifoCapacity: Int = 16) {
        irq = CountingTrigger()
        uart = Serial(
            interrupt: irq, sink: CollectingSink(), configuration: SerialConfiguration(fifoCapacity: fifoCapacity))
    }
    mutating func input(_ offset: UInt8) -> UInt8 { uart.read(offset: offset) }
    mutating func output(_ offset: UInt8, _ value: UInt8) { uart.write(offset: offset, value: value) }
}

enum PortType: Equatable { case none, p8250, p16450, p16550, p16550A, p16750, unknown, xscale }

/// A replay of drivers/tty/serial/8250/8250_port.c autoconfig() and
/// autoconfig_16550a() (Linux 6.x), the probe every x86 guest runs on 0x3f8.
private func linuxAutoconfig(_ port: inout Port) -> PortType {
    // IER test: the low four bits must store, the register must clear.
    let savedIER = port.input(IER)
    port.output(IER, 0)
    let scratch2 = port.input(IER) & 0x0f
    port.output(IER, 0x0f)
    let scratch3 = port.input(IER) & 0x0f
    port.output(IER, savedIER)
    guard scratch2 == 0, scratch3 == 0x0f else { return .none }

    let savedMCR = port.input(MCR)
    let savedLCR = port.input(LCR)
    // Loopback test: RTS and OUT2 must come back as CTS and DCD.
    port.output(MCR, MCR_LOOP | 0x0a)
    let status1 = port.input(MSR) & 0xf0
    port.output(MCR, savedMCR)
    guard status1 == 0x90 else { return .none }

    port.output(LCR, LCR_CONF_MODE_B)
    port.output(EFR, 0)
    port.output(LCR, 0)
    port.output(FCR, FCR_ENABLE_FIFO)
    var type: PortType
    switch port.input(IIR) >> 6 {
    case 0:
        // autoconfig_8250: the scratch register tells a 16450 from an 8250.
        let saved = port.input(SCR)
        port.output(SCR, 0xa5)
        let first = port.input(SCR)
        port.output(SCR, 0x5a)
        let second = port.input(SCR)
        port.output(SCR, saved)
        type = first == 0xa5 && second == 0x5a ? .p16450 : .p8250
    case 1: type = .unknown
    case 2: type = .p16550
    default: type = autoconfig16550A(&port)
    }
    port.output(LCR, savedLCR)
    // Reset the port: restore MCR, clear and disable the FIFOs, drain RX, mask IER.
    port.output(MCR, savedMCR)
    port.output(FCR, FCR_ENABLE_FIFO)
    port.output(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT)
    port.output(FCR, 0)
    _ = port.input(RX)
    port.output(IER, 0)
    return type
}

private func autoconfig16550A(_ port: inout Port) -> PortType {
    // ST16C650V1: EFR readable with DLAB set.
    port.output(LCR, LCR_CONF_MODE_A)
    if port.input(EFR) == 0 { return .unknown }
    // 16650: EFR readable in configuration mode B.
    port.output(LCR, LCR_CONF_MODE_B)
    if port.input(EFR) == 0 { return .unknown }
    // 16750: the 64-byte FIFO bit sticks only with DLAB set.
    port.output(LCR, 0)
    port.output(FCR, FCR_ENABLE_FIFO | FCR7_64BYTE)
    let status1 = port.input(IIR) & 0xe0
    port.output(FCR, FCR_ENABLE_FIFO)
    port.output(LCR, LCR_CONF_MODE_A)
    port.output(FCR, FCR_ENABLE_FIFO | FCR7_64BYTE)
    let status2 = port.input(IIR) & 0xe0
    port.output(FCR, FCR_ENABLE_FIFO)
    port.output(LCR, 0)
    if status1 == 0xc0 && status2 == 0xe0 { return .p16750 }
    // XScale: the UART-unit-enable bit of IER must not stick.
    port.output(LCR, 0)
    let savedIER = port.input(IER)
    port.output(IER, savedIER | IER_UUE)
    let sticks = port.input(IER) & IER_UUE != 0
    port.output(IER, savedIER)
    return sticks ? .xscale : .p16550A
}

/// serial8250_startup(): clear FIFOs and interrupts, then the THRE-bug and TXEN-bug tests.
/// Returns (UART_BUG_THRE, UART_BUG_TXEN).
private func linuxStartup(_ port: inout Port) -> (thre: Bool, txen: Bool, lsrAllOnes: Bool) {
    port.output(FCR, FCR_ENABLE_FIFO)
    port.output(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT)
    port.output(FCR, 0)
    _ = port.input(LSR)
    _ = port.input(RX)
    _ = port.input(IIR)
    _ = port.input(MSR)
    let lsrAllOnes = port.input(LSR) == 0xff
    // THRE test: enabling THRI on an idle transmitter must raise THRE every time.
    port.output(IER, 0)
    port.output(IER, IER_THRI)
    let iir1 = port.input(IIR)
    port.output(IER, 0)
    port.output(IER, IER_THRI)
    let iir = port.input(IIR)
    port.output(IER, 0)
    let thre = iir1 & IIR_NO_INT == 0 && iir & IIR_NO_INT != 0
    port.output(LCR, LCR_WLEN8)
    port.output(MCR, MCR_DTR | MCR_RTS | MCR_OUT2)
    // TXEN test: THRI enabled on an empty transmitter must show in IIR.
    port.output(IER, IER_THRI)
    let lsr = port.input(LSR)
    let iir2 = port.input(IIR)
    port.output(IER, 0)
    let txen = lsr & LSR_TEMT != 0 && iir2 & IIR_NO_INT != 0
    _ = port.input(LSR)
    _ = port.input(RX)
    _ = port.input(IIR)
    _ = port.input(MSR)
    port.output(IER, IER_RLSI | IER_RDI)
    return (thre, txen, lsrAllOnes)
}

/// serial8250_do_set_termios() for 115200 8N1: divisor latch, LCR, FCR.
private func linuxSetTermios(_ port: inout Port, divisor: UInt16) {
    port.output(LCR, LCR_WLEN8 | LCR_DLAB)
    port.output(DLL, UInt8(divisor & 0xff))
    port.output(DLM, UInt8(divisor >> 8))
    port.output(LCR, LCR_WLEN8)
    port.output(FCR, FCR_ENABLE_FIFO | FCR_R_TRIG_10)
}

let linuxDriverReplayCases: [PortableTestCase] = [
    PortableTestCase("LinuxDriverReplay", "autoconfigDetects16550A") { () throws(TestFailure) in
        var port = Port()
        try expectEqual(linuxAutoconfig(&port), .p16550A)
        // The IER test enables THRI on an idle transmitter, which raises THRE as on
        // real hardware; the probe ends with IER cleared, so the line is low again.
        try expectEqual(port.irq.raises, 1)
        try expect(!port.irq.isHigh)
        try expect(port.uart.sink.bytes.isEmpty)
    },

    PortableTestCase("LinuxDriverReplay", "startupFindsNoHardwareBugs") { () throws(TestFailure) in
        var port = Port()
        _ = linuxAutoconfig(&port)
        let bugs = linuxStartup(&port)
        try expect(!bugs.lsrAllOnes)
        try expect(!bugs.thre)
        try expect(!bugs.txen)
        try expectEqual(port.input(IER), IER_RLSI | IER_RDI)
    },

    PortableTestCase("LinuxDriverReplay", "setTermiosProgramsDivisorAndTrigger") { () throws(TestFailure) in
        var port = Port()
        _ = linuxAutoconfig(&port)
        _ = linuxStartup(&port)
        linuxSetTermios(&port, divisor: 1)
        try expectEqual(port.uart.divisor, 1)
        try expectEqual(port.input(LCR), LCR_WLEN8)
        // With DLAB clear, offsets 0/1 are RX/IER again, not the latch.
        try expectEqual(port.input(IER), IER_RLSI | IER_RDI)
        try expectEqual(port.input(IIR), 0xc1)  // FIFOs enabled, nothing pending
        // Trigger level 8: seven bytes report a timeout, eight a data interrupt.
        try expectEqual(port.uart.enqueueInput([UInt8](repeating: 0x41, count: 7)), 7)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_RX_TIMEOUT)
        try expectEqual(port.uart.enqueueInput([0x42]), 1)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_RDI)
    },

    // serial8250_start_tx + serial8250_handle_irq + serial8250_tx_chars, as the
    // tty layer drives them to print a line.
    PortableTestCase("LinuxDriverReplay", "transmitWithTHREInterrupts") { () throws(TestFailure) in
        var port = Port()
        _ = linuxAutoconfig(&port)
        _ = linuxStartup(&port)
        linuxSetTermios(&port, divisor: 1)
        let message = utf8Bytes("Linux version 6.1.0 (swift-vmm) #1 SMP PREEMPT_DYNAMIC\r\n")
        var pending = message[...]
        var ier = port.input(IER)
        let raisesBefore = port.irq.raises
        ier |= IER_THRI  // start_tx
        port.output(IER, ier)
        var handled = 0
        while port.irq.isHigh && handled < 100 {
            handled += 1
            // serial8250_handle_irq: IIR, then LSR, then TX chars while THRE.
            let iir = port.input(IIR)
            if iir & IIR_NO_INT != 0 { break }
            let lsr = port.input(LSR)
            try expect(lsr & LSR_THRE != 0)
            if lsr & LSR_THRE != 0 && ier & IER_THRI != 0 {
                var count = 16  // tx_loadsz of a 16550A
                while count > 0, let byte = pending.first {
                    port.output(TX, byte)
                    pending = pending.dropFirst()
                    count -= 1
                }
                if pending.isEmpty {  // __stop_tx
                    ier &= ~IER_THRI
                    port.output(IER, ier)
                }
            }
        }
        try expectEqual(port.uart.sink.bytes, message)
        try expectEqual(port.uart.counters.bytesOut, UInt64(message.count))
        // One interrupt per 16-byte batch; each batch's first THR write re-arms
        // THRE (a new edge) and __stop_tx withdraws the last one.
        try expectEqual(handled, (message.count + 15) / 16)
        try expectEqual(port.irq.raises - raisesBefore, handled + 1)
        try expect(!port.irq.isHigh)
    },

    PortableTestCase("LinuxDriverReplay", "receiveThroughRDAInterrupts") { () throws(TestFailure) in
        var port = Port()
        _ = linuxAutoconfig(&port)
        _ = linuxStartup(&port)
        linuxSetTermios(&port, divisor: 1)
        let typed = utf8Bytes("root\n")
        try expectEqual(port.uart.enqueueInput(typed), typed.count)
        try expect(port.irq.isHigh)
        // serial8250_rx_chars: read while LSR.DR.
        var received: [UInt8] = []
        let iir = port.input(IIR)
        try expectEqual(iir & IIR_ID, IIR_RX_TIMEOUT)
        while port.input(LSR) & LSR_DR != 0 { received.append(port.input(RX)) }
        try expectEqual(received, typed)
        try expect(!port.irq.isHigh)
        try expectEqual(port.input(IIR), 0xc1)
        try expectEqual(port.uart.counters.bytesIn, UInt64(typed.count))
    },
]

let serialDatasheetCases: [PortableTestCase] = [
    PortableTestCase("SerialDatasheetBehaviour", "powerOnState") { () throws(TestFailure) in
        var port = Port()
        try expectEqual(port.input(IER), 0)
        try expectEqual(port.input(IIR), IIR_NO_INT)  // FIFOs off: bits 6-7 clear
        try expectEqual(port.input(LSR), LSR_THRE | LSR_TEMT)
        try expectEqual(port.input(MSR) & 0xf0, 0xb0)  // CTS, DSR, DCD of a connected peer
    },

    PortableTestCase("SerialDatasheetBehaviour", "scratchRegisterStoresAnyByte") { () throws(TestFailure) in
        var port = Port()
        for value in [UInt8(0x00), 0xa5, 0x5a, 0xff] {
            port.output(SCR, value)
            try expectEqual(port.input(SCR), value)
        }
    },

    PortableTestCase("SerialDatasheetBehaviour", "divisorLatchSharesOffsetsZeroAndOne") { () throws(TestFailure) in
        var port = Port()
        port.output(IER, IER_RDI)
        port.output(LCR, LCR_DLAB)
        port.output(DLL, 0x34)
        port.output(DLM, 0x12)
        try expectEqual(port.input(DLL), 0x34)
        try expectEqual(port.input(DLM), 0x12)
        port.output(LCR, 0)
        try expectEqual(port.input(IER), IER_RDI)
        try expectEqual(port.uart.divisor, 0x1234)
        try expect(port.uart.sink.bytes.isEmpty)  // the DLL write did not transmit
    },

    PortableTestCase("SerialDatasheetBehaviour", "ierKeepsOnlyTheFourDefinedBits") { () throws(TestFailure) in
        var port = Port()
        port.output(IER, 0xff)
        try expectEqual(port.input(IER), 0x0f)
    },

    PortableTestCase("SerialDatasheetBehaviour", "mcrKeepsOnlyFiveBits") { () throws(TestFailure) in
        var port = Port()
        port.output(MCR, 0xff)
        try expectEqual(port.input(MCR), 0x1f)
    },

    PortableTestCase("SerialDatasheetBehaviour", "receiveFIFOPushesBackWhenFull") { () throws(TestFailure) in
        var port = Port(fifoCapacity: 16)
        port.output(FCR, FCR_ENABLE_FIFO)
        let input = [UInt8](0..<40)
        try expectEqual(port.uart.enqueueInput(input), 16)
        try expectEqual(port.uart.inputSpace, 0)
        try expectEqual(port.uart.enqueueInput(input[16...]), 0)
        try expectEqual(port.uart.counters.droppedInput, 0)  // back-pressure is not loss
        try expectEqual(port.input(RX), 0)
        try expectEqual(port.uart.inputSpace, 1)
        try expectEqual(port.uart.enqueueInput(input[16...]), 1)
        var drained: [UInt8] = []
        while port.input(LSR) & LSR_DR != 0 { drained.append(port.input(RX)) }
        try expectEqual(drained, Array(1...16))
    },

    PortableTestCase("SerialDatasheetBehaviour", "configurableFIFOSize") { () throws(TestFailure) in
        var port = Port(fifoCapacity: 64)
        port.output(FCR, FCR_ENABLE_FIFO)
        try expectEqual(port.uart.fifoCapacity, 64)
        try expectEqual(port.uart.enqueueInput([UInt8](repeating: 1, count: 100)), 64)
    },

    PortableTestCase("SerialDatasheetBehaviour", "withoutFIFOsTheReceiverHoldsOneByte") { () throws(TestFailure) in
        var port = Port()
        try expectEqual(port.uart.enqueueInput([1, 2, 3]), 1)
        try expectEqual(port.input(RX), 1)
        try expectEqual(port.input(LSR) & LSR_DR, 0)
    },

    PortableTestCase("SerialDatasheetBehaviour", "droppingInputIsCounted") { () throws(TestFailure) in
        var port = Port()
        port.output(FCR, FCR_ENABLE_FIFO)
        try expectEqual(port.uart.enqueueInputDroppingOverflow([UInt8](repeating: 7, count: 20)), 16)
        try expectEqual(port.uart.counters.droppedInput, 4)
        try expectEqual(port.uart.counters.bytesIn, 16)
    },

    PortableTestCase("SerialDatasheetBehaviour", "fifoControlClearsReceiveFIFO") { () throws(TestFailure) in
        var port = Port()
        port.output(FCR, FCR_ENABLE_FIFO)
        _ = port.uart.enqueueInput([1, 2, 3])
        port.output(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR)
        try expectEqual(port.input(LSR) & LSR_DR, 0)
        // Turning FIFOs off also resets them and clears IIR bits 6-7.
        _ = port.uart.enqueueInput([4])
        port.output(FCR, 0)
        try expectEqual(port.input(LSR) & LSR_DR, 0)
        try expectEqual(port.input(IIR), IIR_NO_INT)
    },

    PortableTestCase("SerialDatasheetBehaviour", "sinkBackPressureHoldsTHREAndFlushes") { () throws(TestFailure) in
        var port = Port()
        port.output(FCR, FCR_ENABLE_FIFO)
        port.output(IER, IER_THRI)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_THRI)  // acknowledges the enable-time THRE
        port.uart.sink.accepting = false
        for byte in UInt8(0)..<20 { port.output(TX, byte) }
        try expectEqual(port.uart.pendingOutput, 16)
        try expectEqual(port.uart.counters.droppedOutput, 4)
        try expectEqual(port.input(LSR) & (LSR_THRE | LSR_TEMT), 0)
        try expect(!port.irq.isHigh)
        port.uart.sink.accepting = true
        try expectEqual(port.uart.flushOutput(), 16)
        try expectEqual(port.uart.sink.bytes, Array(0..<16))
        try expect(port.input(LSR) & LSR_THRE != 0)
        try expect(port.irq.isHigh)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_THRI)
        try expect(!port.irq.isHigh)  // reading IIR acknowledged THRE
        // Once drained, bytes go straight to the sink again instead of waiting.
        port.output(TX, 0x7e)
        try expectEqual(port.uart.pendingOutput, 0)
        try expectEqual(port.uart.sink.bytes.last, 0x7e)
        try expectEqual(port.uart.counters.bytesOut, 17)
    },

    PortableTestCase("SerialDatasheetBehaviour", "clearingTheTransmitFIFODropsHeldBytesAndRestoresTHRE") {
        () throws(TestFailure) in
        var port = Port()
        port.output(FCR, FCR_ENABLE_FIFO)
        port.uart.sink.accepting = false
        for byte in UInt8(1)...5 { port.output(TX, byte) }
        port.output(IER, IER_THRI)
        try expect(!port.irq.isHigh)  // THR is not empty: enabling THRI raises nothing
        port.output(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_XMIT)
        try expectEqual(port.uart.pendingOutput, 0)
        try expectEqual(port.uart.counters.droppedOutput, 5)
        try expectEqual(port.input(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT)
        try expect(port.irq.isHigh)
        try expectEqual(port.input(IIR), 0xc0 | IIR_THRI)
    },

    PortableTestCase("SerialDatasheetBehaviour", "lineControlStoresEveryBit") { () throws(TestFailure) in
        var port = Port()
        for value in [UInt8(0x00), 0x1b, 0x7f, 0x40] {
            port.output(LCR, value)
            try expectEqual(port.input(LCR), value)
        }
        // A transmitted byte leaves whatever the word length, parity or break setting.
        port.output(TX, 0x55)
        try expectEqual(port.uart.sink.bytes, [0x55])
    },

    PortableTestCase("SerialDatasheetBehaviour", "loopbackFeedsTransmitterIntoReceiverAndOverruns") {
        () throws(TestFailure) in
        var port = Port()
        port.output(FCR, FCR_ENABLE_FIFO)
        port.output(MCR, MCR_LOOP)
        port.output(IER, IER_RLSI | IER_RDI)
        for byte in UInt8(0)..<17 { port.output(TX, byte) }
        try expect(port.uart.sink.bytes.isEmpty)
        try expectEqual(port.uart.enqueueInput([0xee]), 0)  // serial input is disconnected
        // Overrun outranks received data in IIR; reading LSR clears it.
        try expectEqual(port.input(IIR) & IIR_ID, IIR_RLSI)
        try expectEqual(port.input(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR)
        try expectEqual(port.input(LSR) & LSR_OE, 0)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_RDI)
        try expectEqual(port.uart.counters.droppedInput, 1)
        var looped: [UInt8] = []
        while port.input(LSR) & LSR_DR != 0 { looped.append(port.input(RX)) }
        try expectEqual(looped, Array(0..<16))
    },

    PortableTestCase("SerialDatasheetBehaviour", "leavingLoopbackAndDLABResumesTransmission") {
        () throws(TestFailure) in
        var port = Port()
        port.output(MCR, MCR_LOOP)
        port.output(TX, 0x01)  // loops back, not to the sink
        port.output(MCR, 0)
        port.output(LCR, LCR_DLAB)
        port.output(TX, 0x02)  // the divisor latch, not THR
        port.output(LCR, LCR_WLEN8)
        port.output(TX, 0x03)
        try expectEqual(port.uart.sink.bytes, [0x03])
        try expectEqual(port.uart.divisor, 0x02)
    },

    PortableTestCase("SerialDatasheetBehaviour", "loopbackModemLinesAndDeltas") { () throws(TestFailure) in
        var port = Port()
        port.output(MCR, MCR_LOOP)
        // Entering loopback drops CTS, DSR and DCD: three deltas.
        try expectEqual(port.input(MSR), 0x0b)
        try expectEqual(port.input(MSR), 0x00)  // reading cleared the deltas
        port.output(IER, IER_MSI)
        port.output(MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT1 | MCR_OUT2)
        try expect(port.irq.isHigh)
        try expectEqual(port.input(IIR) & 0x0f, IIR_MSI)
        try expectEqual(port.input(MSR), 0xf0 | 0x0b)
        try expect(!port.irq.isHigh)
        // RI reports only its trailing edge.
        port.output(MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT2)
        try expectEqual(port.input(MSR), 0xb4)
    },

    PortableTestCase("SerialDatasheetBehaviour", "threInterruptPriorityAndAcknowledge") { () throws(TestFailure) in
        var port = Port()
        port.output(IER, IER_THRI | IER_RDI)
        _ = port.uart.enqueueInput([9])
        // Received data outranks THRE; THRE stays pending until IIR reports it.
        try expectEqual(port.input(IIR) & IIR_ID, IIR_RDI)
        try expectEqual(port.input(RX), 9)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_THRI)
        try expectEqual(port.input(IIR), IIR_NO_INT)
        // Writing THR re-arms THRE once the byte has gone.
        port.output(TX, 0x21)
        try expectEqual(port.input(IIR) & IIR_ID, IIR_THRI)
    },

    PortableTestCase("SerialDatasheetBehaviour", "interruptLineMovesOnlyOnTransitions") { () throws(TestFailure) in
        var port = Port()
        port.output(IER, IER_THRI)
        try expectEqual(port.irq.raises, 1)
        for byte in UInt8(0)..<50 { port.output(TX, byte) }
        try expectEqual(port.irq.raises, 1)  // still pending: no new edges while nobody acknowledged
        _ = port.input(IIR)
        try expectEqual(port.irq.lowers, 1)
    },

    // A guest can write anything to any register in any order: the model stays
    // within its bounds and keeps its invariants.
    PortableTestCase("SerialDatasheetBehaviour", "hostileRegisterTrafficStaysBounded") { () throws(TestFailure) in
        var port = Port(fifoCapacity: 8)
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next() -> UInt64 {
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            return seed
        }
        for round in 0..<200_000 {
            let random = next()
            let offset = UInt8(random & 0x0f)  // includes offsets past the 8 registers
            let value = UInt8(truncatingIfNeeded: random >> 8)
            if random >> 40 & 1 == 0 {
                port.output(offset, value)
            } else {
                _ = port.input(offset)
            }
            if round % 7 == 0 { _ = port.uart.enqueueInput([value, value]) }
            if round % 11 == 0 { port.uart.sink.accepting.toggle() }
            try expect(port.uart.pendingOutput <= 8)
            try expect(port.uart.inputSpace >= 0)
        }
        try expectEqual(port.input(8), 0xff)  // outside the register file
        try expectEqual(port.uart.counters.bytesOut, UInt64(port.uart.sink.bytes.count))
    },
]
