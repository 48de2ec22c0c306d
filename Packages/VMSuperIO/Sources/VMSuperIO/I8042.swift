// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// What a write to the i8042 asks of the VMM.
public enum I8042Event: Sendable, Equatable {
    /// Nothing beyond the register update.
    case none
    /// The guest pulsed the CPU reset line (command 0xFE, or an output-port
    /// write with bit 0 clear): reboot or stop the VM.
    case systemReset
}

/// The i8042 keyboard controller as a PC guest sees it at ports 0x60 (data) and
/// 0x64 (status on read, command on write), with an AT keyboard behind it and no
/// mouse: enough for Linux's i8042 and atkbd probes (self-test 0xAA → 0x55,
/// configuration byte, interface tests, keyboard identify) and the reset pulse
/// Linux's `reboot=k` and many firmwares use to restart.
///
/// ```swift
/// var controller = I8042(keyboardInterrupt: irq1, auxInterrupt: irq12)
/// if controller.write(offset: I8042.commandOffset, value: 0xfe) == .systemReset {
///     // reset the VM
/// }
/// ```
public struct I8042<Trigger: InterruptTrigger> {
    /// Offset of the data port (0x60) in the device's range.
    public static var dataOffset: UInt8 { 0 }
    /// Offset of the status/command port (0x64) in a 0x60-based range of 5 ports.
    public static var commandOffset: UInt8 { 4 }

    // Status register bits.
    static var statusOutputFull: UInt8 { 0x01 }
    static var statusInputFull: UInt8 { 0x02 }
    static var statusSystemFlag: UInt8 { 0x04 }
    static var statusCommand: UInt8 { 0x08 }
    static var statusKeyboardUnlocked: UInt8 { 0x10 }
    static var statusAuxData: UInt8 { 0x20 }
    // Controller configuration byte bits.
    static var configKeyboardInterrupt: UInt8 { 0x01 }
    static var configAuxInterrupt: UInt8 { 0x02 }
    static var configSystemFlag: UInt8 { 0x04 }
    static var configKeyboardDisabled: UInt8 { 0x10 }
    static var configAuxDisabled: UInt8 { 0x20 }
    static var configTranslate: UInt8 { 0x40 }

    /// Keyboard interrupt (IRQ 1 on a PC).
    public private(set) var keyboardInterrupt: Trigger
    /// Auxiliary (mouse) interrupt (IRQ 12 on a PC).
    public private(set) var auxInterrupt: Trigger
    /// How many reset pulses the guest asked for.
    public private(set) var resetRequests = 0
    /// Host keyboard bytes refused because the output queue was full.
    public private(set) var droppedInput = 0

    private var configuration: UInt8
    private var outputPort: UInt8 = 0x01  // bit 0: reset line inactive (high)
    private var lastWasCommand = false
    private var pendingCommand: UInt8?  // controller command waiting for its data byte
    private var pendingKeyboardCommand: UInt8?  // keyboard command waiting for its argument
    private var output: [(byte: UInt8, aux: Bool)] = []
    private var keyboardAsserted = false
    private var auxAsserted = false

    /// Bytes the output queue holds at most; more host input is refused.
    public static var outputCapacity: Int { 16 }

    /// Creates the controller in its power-on state: keyboard enabled with
    /// scancode translation, aux port disabled, both interrupts enabled.
    public init(keyboardInterrupt: Trigger, auxInterrupt: Trigger) {
        self.keyboardInterrupt = keyboardInterrupt
        self.auxInterrupt = auxInterrupt
        configuration =
            Self.configKeyboardInterrupt | Self.configSystemFlag | Self.configAuxDisabled
            | Self.configTranslate
    }

    /// The controller configuration byte (command 0x20 reads it, 0x60 writes it).
    public var configurationByte: UInt8 { configuration }

    /// Handles a guest read: offset 0 pops the output buffer, offset 4 is status.
    public mutating func read(offset: UInt8) -> UInt8 {
        switch offset {
        case Self.dataOffset:
            guard !output.isEmpty else { return 0 }
            let byte = output.removeFirst().byte
            updateInterrupts()
            return byte
        case Self.commandOffset:
            var status = Self.statusKeyboardUnlocked
            if configuration & Self.configSystemFlag != 0 { status |= Self.statusSystemFlag }
            if lastWasCommand { status |= Self.statusCommand }
            if let head = output.first {
                status |= Self.statusOutputFull
                if head.aux { status |= Self.statusAuxData }
            }
            return status
        default:
            return 0xff
        }
    }

    /// Handles a guest write; returns ``I8042Event/systemReset`` when it pulsed
    /// the reset line.
    public mutating func write(offset: UInt8, value: UInt8) -> I8042Event {
        var event = I8042Event.none
        switch offset {
        case Self.commandOffset:
            lastWasCommand = true
            event = controllerCommand(value)
        case Self.dataOffset:
            lastWasCommand = false
            event = dataByte(value)
        default:
            break
        }
        updateInterrupts()
        return event
    }

    /// Queues scancodes from the host keyboard; returns how many fit (the rest
    /// stays with the caller and is counted in ``droppedInput`` only if the caller
    /// gives up on them).
    public mutating func enqueueKeyboardInput<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int {
        var taken = 0
        for byte in bytes {
            guard output.count < Self.outputCapacity else { break }
            output.append((byte, false))
            taken += 1
        }
        updateInterrupts()
        return taken
    }

    /// Sends Ctrl+Alt+Del as set-1 scancodes (what Firecracker does to ask a Linux
    /// guest to reboot); returns `false` and counts a drop if the queue is full.
    public mutating func sendCtrlAltDelete() -> Bool {
        let sequence: [UInt8] = [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]
        guard Self.outputCapacity - output.count >= sequence.count else {
            droppedInput += sequence.count
            return false
        }
        _ = enqueueKeyboardInput(sequence)
        return true
    }

    // MARK: - Internals

    private mutating func reply(_ byte: UInt8, aux: Bool = false) {
        // The guest drives this queue: keep it bounded whatever it sends.
        guard output.count < Self.outputCapacity else { return }
        output.append((byte, aux))
    }

    private mutating func controllerCommand(_ command: UInt8) -> I8042Event {
        pendingCommand = nil
        switch command {
        case 0x20: reply(configuration)  // read configuration byte
        case 0x60, 0xd1, 0xd2, 0xd3, 0xd4: pendingCommand = command  // data byte follows
        case 0xa7: configuration |= Self.configAuxDisabled
        case 0xa8: configuration &= ~Self.configAuxDisabled
        case 0xa9: reply(0x00)  // aux interface test: passed
        case 0xaa:  // controller self-test
            configuration |= Self.configSystemFlag
            output.removeAll()
            reply(0x55)
        case 0xab: reply(0x00)  // keyboard interface test: passed
        case 0xad: configuration |= Self.configKeyboardDisabled
        case 0xae: configuration &= ~Self.configKeyboardDisabled
        case 0xc0: reply(0x80)  // input port: keyboard not inhibited
        case 0xd0: reply(outputPort)
        case 0xf0...0xff:
            // Pulse output lines; a 0 in bit 0 pulses the CPU reset line (0xFE).
            if command & 0x01 == 0 {
                resetRequests += 1
                return .systemReset
            }
        default:
            break  // unknown commands are ignored, as most controllers do
        }
        return .none
    }

    private mutating func dataByte(_ value: UInt8) -> I8042Event {
        if let command = pendingCommand {
            pendingCommand = nil
            switch command {
            case 0x60:
                configuration = value
            case 0xd1:
                outputPort = value
                if value & 0x01 == 0 {
                    resetRequests += 1
                    return .systemReset
                }
            case 0xd2: reply(value)
            case 0xd3: reply(value, aux: true)  // aux loopback
            default: break  // 0xd4: to the mouse, and there is none
            }
            return .none
        }
        keyboardCommand(value)
        return .none
    }

    /// An AT keyboard's answers to the commands atkbd sends while probing.
    private mutating func keyboardCommand(_ value: UInt8) {
        let acknowledge: UInt8 = 0xfa
        if pendingKeyboardCommand != nil {
            pendingKeyboardCommand = nil  // the argument of 0xED (LEDs) or 0xF3 (rate)
            reply(acknowledge)
            return
        }
        switch value {
        case 0xed, 0xf3:
            pendingKeyboardCommand = value
            reply(acknowledge)
        case 0xee: reply(0xee)  // echo
        case 0xf2:  // identify: an MF2 keyboard
            reply(acknowledge)
            reply(0xab)
            reply(0x83)
        case 0xff:  // reset: ACK then basic assurance test passed
            reply(acknowledge)
            reply(0xaa)
        default:
            reply(acknowledge)
        }
    }

    private mutating func updateInterrupts() {
        let head = output.first
        let keyboard = head.map { !$0.aux } == true && configuration & Self.configKeyboardInterrupt != 0
        let aux = head.map { $0.aux } == true && configuration & Self.configAuxInterrupt != 0
        if keyboard != keyboardAsserted {
            keyboardAsserted = keyboard
            if keyboard { keyboardInterrupt.raise() } else { keyboardInterrupt.lower() }
        }
        if aux != auxAsserted {
            auxAsserted = aux
            if aux { auxInterrupt.raise() } else { auxInterrupt.lower() }
        }
    }
}
