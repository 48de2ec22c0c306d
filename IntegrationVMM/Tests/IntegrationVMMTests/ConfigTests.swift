// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import IntegrationVMMCore
import Testing

@Suite("Machine configuration")
struct ConfigTests {
    @Test func kernelOptionTakesPathAndCommandLineWithCommas() throws {
        let option = try KernelOption.parse("path=/k/vmlinux,cmdline=console=ttyS0 a=b,c quiet")
        #expect(option.path == "/k/vmlinux")
        #expect(option.commandLine == "console=ttyS0 a=b,c quiet")
        #expect(try KernelOption.parse("/boot/bzImage") == KernelOption(path: "/boot/bzImage"))
    }

    @Test func kernelOptionRejectsUnknownKeysAndMissingPath() {
        #expect(throws: ConfigError.self) { try KernelOption.parse("file=/x") }
        #expect(throws: ConfigError.self) { try KernelOption.parse("cmdline=quiet") }
        #expect(throws: ConfigError.self) { try KernelOption.parse("") }
    }

    @Test func memorySizesParseAndImpossibleOnesFailWithOneLine() throws {
        #expect(try MemoryOption.parse("size_mib=256") == 256 << 20)
        #expect(try MemoryOption.parse("5000") == 5000 << 20)
        for bad in ["size_mib=0", "size_mib=-5", "size_mib=lots", "size_mib=99999999999", "size=5", "size_mib="] {
            do {
                _ = try MemoryOption.parse(bad)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.description.hasPrefix("--memory"), "\(error)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test func vcpuCountIsValidated() {
        var config = MachineConfig(kernel: "/k", commandLine: "")
        config.vcpus = 0
        #expect(throws: ConfigError.self) { try config.validate() }
        config.vcpus = MachineConfig.maximumVCPUs + 1
        #expect(throws: ConfigError.self) { try config.validate() }
        config.vcpus = 4
        #expect(throws: Never.self) { try config.validate() }
    }

    @Test func kernelParametersSplitLikeTheKernel() {
        #expect(KernelParameters.split(#"quiet  vmm.cmd="echo a b" x=1"#) == ["quiet", "vmm.cmd=echo a b", "x=1"])
        #expect(KernelParameters.split("") == [])
        #expect(DefaultGuestParameters.complete("console=ttyS0") == "console=ttyS0 acpi=off")
        #expect(DefaultGuestParameters.complete("acpi=off quiet") == "acpi=off quiet")
    }
}

@Suite("Console watch and exit status")
struct OutcomeTests {
    func watch(_ text: String) -> ConsoleWatch {
        var watch = ConsoleWatch()
        for byte in text.utf8 { watch.consume(byte) }
        return watch
    }

    @Test func panicLineIsKeptAndMapsToStatus2() {
        let state = watch("[ 1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x100\r\n")
        #expect(state.panicLine == "Kernel panic - not syncing: Attempted to kill init! exitcode=0x100")
        #expect(state.shutdownOutcome.exitStatus == GuestOutcome.panicStatus)
        #expect(state.shutdownOutcome.message?.contains("Attempted to kill init") == true)
    }

    @Test func shutdownAfterRestartIsAReboot() {
        #expect(watch("[ 75.4] reboot: Restarting system\n").shutdownOutcome == .rebooted)
        #expect(watch("[ 75.4] reboot: Power down\n").shutdownOutcome == .poweredOff)
        #expect(watch("noise\n").shutdownOutcome == .tripleFault)
        #expect(GuestOutcome.tripleFault.exitStatus == GuestOutcome.guestCrashStatus)
        #expect(GuestOutcome.internalError("x").exitStatus == GuestOutcome.guestCrashStatus)
        #expect(GuestOutcome.stopped(signal: 15).exitStatus == 143)
        #expect(GuestOutcome.rebooted.exitStatus == 0 && GuestOutcome.rebooted.message == nil)
    }

    @Test func markersAndCommandStatus() {
        let state = watch("VMM-GUEST-READY uptime=1.0 cpus=2\nhello\nVMM-GUEST-EXIT status=42\n")
        #expect(state.sawReady)
        #expect(state.commandStatus == 42)
    }

    @Test func hostileConsoleLinesStayBounded() {
        var state = ConsoleWatch()
        for _ in 0..<100_000 { state.consume(0x41) }
        let line = state.consume(0x0a)
        #expect(line?.utf8.count == ConsoleWatch.maximumLine)
    }
}

@Suite("Console lines that end a run")
struct ConsoleLineTests {
    @Test func haltWithoutPowerOffEndsTheRun() {
        var watch = ConsoleWatch()
        for byte in "[   55.3] reboot: Power off not available: System halted instead\r\n".utf8 { watch.consume(byte) }
        #expect(watch.sawHalt)
        var other = ConsoleWatch()
        for byte in "echo System halted\n".utf8 { other.consume(byte) }
        #expect(!other.sawHalt)
    }

    @Test func kernelMessagesAreRecognised() {
        #expect(ConsoleWatch.isKernelMessage("[   60.123456] reboot: Restarting system"))
        #expect(!ConsoleWatch.isKernelMessage("Linux"))
        #expect(!ConsoleWatch.isKernelMessage("[x] not a stamp"))
        #expect(!ConsoleWatch.isKernelMessage("[] empty"))
    }
}
