// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMMemory
import VirtioQueue

/// The console size reported in configuration space (`VIRTIO_CONSOLE_F_SIZE`).
///
/// ```swift
/// let console = ConsoleDevice<Memory>(size: ConsoleSize(columns: 80, rows: 25)) { bytes in write(bytes) }
/// ```
public struct ConsoleSize: Sendable, Hashable {
    /// `cols`.
    public var columns: UInt16
    /// `rows`.
    public var rows: UInt16
    /// A size of `columns` by `rows` characters.
    public init(columns: UInt16, rows: UInt16) {
        self.columns = columns
        self.rows = rows
    }
}

/// virtio-console (virtio 1.2, section 5.3) with one port, the guest's `hvc0`.
///
/// No `VIRTIO_CONSOLE_F_MULTIPORT`: queue 0 (receiveq) carries input to the
/// guest and queue 1 (transmitq) its output. `VIRTIO_CONSOLE_F_EMERG_WRITE` is
/// offered, so a guest can also write single bytes through `emerg_wr` before its
/// queues work (early console, panics).
///
/// Output goes to the `output` closure the VMM supplies, in order and never two
/// calls at once; the queues' lock is not held meanwhile, so the closure may call
/// ``enqueueInput(_:)`` (a loopback). It runs on the event loop thread for
/// transmitq data and on a vCPU thread for emergency writes. Input from any
/// thread goes through ``enqueueInput(_:)``: it is buffered up to
/// ``inputCapacity`` bytes and delivered into the guest's receive buffers on the
/// event loop; what does not fit is dropped and counted.
///
/// ```swift
/// let console = ConsoleDevice<GuestMemoryMap<MmapRegion>> { bytes in
///     try? standardOutput.write(bytes)
/// }
/// let transport = try MmioTransport(device: console, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// _ = console.enqueueInput(Array("ls\n".utf8))  // typed on the host's terminal
/// ```
public final class ConsoleDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// `VIRTIO_CONSOLE_F_SIZE` (bit 0): `cols` and `rows` are valid.
    public static var featureSize: UInt64 { 1 << 0 }
    /// `VIRTIO_CONSOLE_F_MULTIPORT` (bit 1): never offered by this device.
    public static var featureMultiport: UInt64 { 1 << 1 }
    /// `VIRTIO_CONSOLE_F_EMERG_WRITE` (bit 2): `emerg_wr` is writable.
    public static var featureEmergencyWrite: UInt64 { 1 << 2 }
    /// Offset of `emerg_wr` in configuration space.
    public static var emergencyWriteOffset: Int { 8 }
    /// The most output bytes taken from one transmit chain; the rest is dropped and
    /// counted (Linux's hvc writes at most a page per chain).
    public static var maximumOutputPerChain: Int { 256 * 1024 }
    /// Transmit chains gathered before output is handed on (bounds the memory held).
    static var chainsPerBatch: Int { 16 }

    /// The size reported to the guest, if any (`VIRTIO_CONSOLE_F_SIZE` is offered only with one).
    public let size: ConsoleSize?
    /// The most input bytes held while the guest has no receive buffers.
    public let inputCapacity: Int
    private let output: @Sendable ([UInt8]) -> Void
    /// Serialises calls to `output` (event loop and vCPU threads) and counts what went out.
    private let outputGate = Mutex<UInt64>(0)
    private let state = Mutex(ConsoleState<Memory>())
    private let droppedInput = Atomic<UInt64>(0)
    private let droppedOutput = Atomic<UInt64>(0)

    /// A console reporting `size` (nil: no size, `cols` and `rows` read 0), holding
    /// up to `inputCapacity` bytes of pending input, writing guest output to `output`.
    public init(
        size: ConsoleSize? = nil, inputCapacity: Int = 64 * 1024, output: @escaping @Sendable ([UInt8]) -> Void
    ) {
        self.size = size
        self.inputCapacity = max(0, inputCapacity)
        self.output = output
    }

    /// Input bytes dropped because the buffer was full.
    public var droppedInputBytes: UInt64 { droppedInput.load(ordering: .relaxed) }
    /// Output bytes dropped because a chain exceeded ``maximumOutputPerChain``.
    public var droppedOutputBytes: UInt64 { droppedOutput.load(ordering: .relaxed) }
    /// Output bytes handed to the `output` closure so far.
    public var outputBytes: UInt64 { outputGate.withLock { $0 } }
    /// Input bytes waiting for receive buffers.
    public var pendingInputBytes: Int { state.withLock { $0.input.count } }

    /// ``VirtioDeviceType/console``.
    public var deviceType: VirtioDeviceType { .console }
    /// receiveq and transmitq, 256 entries each.
    public var queueMaximumSizes: [UInt16] { [256, 256] }
    /// `VIRTIO_CONSOLE_F_EMERG_WRITE`, plus `VIRTIO_CONSOLE_F_SIZE` when a size was given.
    public var deviceFeatures: UInt64 { Self.featureEmergencyWrite | (size == nil ? 0 : Self.featureSize) }
    /// `cols`, `rows`, `max_nr_ports`, `emerg_wr`: 12 bytes.
    public var configSize: Int { 12 }

    /// Reads the configuration: the size, one port, and `emerg_wr` (reads 0).
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var config = ConfigSpace()
        config.append(self.size?.columns ?? 0)
        config.append(self.size?.rows ?? 0)
        config.append(UInt32(1))
        config.append(UInt32(0))
        return Self.readLittleEndian(config.bytes, offset: offset, size: size)
    }

    /// A write to `emerg_wr` is one output byte (its low 8 bits); other fields are read-only.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        guard offset == Self.emergencyWriteOffset else { return }
        emit([[UInt8(truncatingIfNeeded: value)]])
    }

    /// Starts serving both queues (input waiting from before is delivered when the
    /// transport replays the queue notifications).
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.count == 2 else { throw .queueNotReady(activation.queues.count) }
        for index in 0..<2 where !activation.queues[index].ready { throw .queueNotReady(index) }
        state.withLock { state in
            state.activation = activation
            state.generation &+= 1
            state.deliveryScheduled = false
        }
    }

    /// The receive and transmit queues while active.
    public var activeQueues: [Virtqueue]? { state.withLock { $0.activation?.queues } }

    /// Stops using the queues. Pending input stays for the next driver.
    public func reset() {
        state.withLock { state in
            state.activation = nil
            state.generation &+= 1
            state.deliveryScheduled = false
        }
    }

    /// receiveq: deliver pending input; transmitq: pass the guest's output on.
    public func queueNotified(_ index: Int) {
        switch index {
        case 0: deliverInput()
        case 1: drainOutput()
        default: break
        }
    }

    /// Queues `bytes` for the guest (any thread) and returns how many were accepted;
    /// the rest is dropped and added to ``droppedInputBytes``.
    @discardableResult
    public func enqueueInput(_ bytes: [UInt8]) -> Int {
        let (accepted, loop, generation) = state.withLock { state -> (Int, RemoteEndpoint?, UInt64) in
            let accepted = min(bytes.count, max(0, inputCapacity - state.input.count))
            state.input.append(contentsOf: bytes[..<accepted])
            guard accepted > 0, let activation = state.activation, !state.deliveryScheduled else {
                return (accepted, nil, state.generation)
            }
            state.deliveryScheduled = true
            return (accepted, activation.eventLoop, state.generation)
        }
        if accepted < bytes.count { droppedInput.add(UInt64(bytes.count - accepted), ordering: .relaxed) }
        if let loop {
            do {
                try loop.post { [weak self] _ in self?.deliverInput() }
            } catch {
                // The loop is gone: the bytes wait for a later notification or activation.
                state.withLock { state in
                    if state.generation == generation { state.deliveryScheduled = false }
                }
            }
        }
        return accepted
    }

    // MARK: Queues

    /// Fills the guest's receive buffers with pending input (event loop thread).
    private func deliverInput() {
        state.withLock { state in
            state.deliveryScheduled = false
            guard state.activation != nil else { return }
            while !state.input.isEmpty, let chain = state.activation!.nextChain(queue: 0) {
                var writer = DescriptorChainWriter(chain)
                let count = Int(min(writer.remaining, UInt64(state.input.count)))
                // A chain with no writable room (read-only, hostile) goes back empty.
                if count > 0 {
                    let memory = state.activation!.memory
                    // SAFETY: `raw` covers the input array for the call; count <= its size.
                    let failure: VirtioQueueError? = unsafe state.input.withUnsafeBytes { raw in
                        do throws(VirtioQueueError) {
                            try unsafe writer.write(UnsafeRawBufferPointer(rebasing: raw[..<count]), to: memory)
                            return nil
                        } catch {
                            return error
                        }
                    }
                    if let failure {
                        state.activation!.markBroken("receiveq: \(failure)")
                        state.activation = nil
                        return
                    }
                    state.input.removeFirst(count)
                }
                guard state.activation!.complete(chain, writtenLength: writer.writtenLength, queue: 0) else {
                    state.activation = nil
                    return
                }
            }
        }
    }

    /// Takes the guest's output, a batch of chains at a time, and hands it on
    /// outside the lock (event loop thread).
    private func drainOutput() {
        while true {
            var batch: [[UInt8]] = []
            var chains = 0
            var dropped: UInt64 = 0
            let served: Bool = state.withLock { state in
                guard state.activation != nil else { return false }
                return state.activation!.serveQueue(1, maximumChains: Self.chainsPerBatch) {
                    chain, memory throws(VirtioDeviceError) in
                    chains += 1
                    var reader = DescriptorChainReader(chain)
                    let total = reader.remaining
                    let count = Int(min(total, UInt64(Self.maximumOutputPerChain)))
                    dropped += total - UInt64(count)
                    guard count > 0 else { return 0 }
                    batch.append(
                        try queueCall { () throws(VirtioQueueError) in try reader.readBytes(count, from: memory) })
                    return 0
                }
            }
            if dropped > 0 { droppedOutput.add(dropped, ordering: .relaxed) }
            emit(batch)
            // serveQueue stops at the batch size with notifications still off: look again.
            guard served, chains == Self.chainsPerBatch else { return }
        }
    }

    private func emit(_ pieces: [[UInt8]]) {
        guard !pieces.isEmpty else { return }
        outputGate.withLock { count in
            for piece in pieces where !piece.isEmpty {
                output(piece)
                count += UInt64(piece.count)
            }
        }
    }
}

/// The console's lock-protected part.
struct ConsoleState<Memory: GuestMemory> {
    var activation: VirtioActivation<Memory>?
    /// Input not yet delivered, oldest first; at most `inputCapacity` bytes.
    var input: [UInt8] = []
    /// A delivery job is queued on the event loop.
    var deliveryScheduled = false
    /// Bumped by activation and reset, so a failed post does not clear a newer flag.
    var generation: UInt64 = 0
}
