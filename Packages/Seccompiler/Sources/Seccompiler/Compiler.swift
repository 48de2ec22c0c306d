// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp
import Glibc
import VMMSysUtil

/// Why a filter could not be compiled, with the rule (and, for filters read from JSON, the
/// line and column) it concerns.
///
/// ```swift
/// do {
///     _ = try SeccompFilter(default: .trap) { Rule("reed") }.compile()
/// } catch {
///     print(error)  // rule 0: unknown system call "reed"
/// }
/// ```
public struct SeccompCompileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Hashable, Sendable {
        /// The target architecture has no system call of this name.
        case unknownSyscall(String)
        /// An argument index outside 0...5.
        case argumentIndexOutOfRange(Int)
        /// A `dword` condition whose value or mask needs more than 32 bits.
        case valueTooWideForDword(UInt64)
        /// Two conditions of one rule test the same argument (libseccomp refuses that).
        case duplicateArgumentIndex(Int)
        /// An `errno` action outside 0...``SeccompAction/maximumErrno``.
        case errnoOutOfRange(Int32)
        /// libseccomp refused a step; `errno` is what it returned.
        case libseccomp(call: String, errno: Errno)
        /// Reading the exported program back failed.
        case export(SystemError)
        /// The exported program is not loadable (for example longer than 4096 instructions).
        case program(BPFProgramError)
    }

    /// What is wrong.
    public var kind: Kind
    /// The filter's name, when compiling a ``SeccompPolicy``.
    public var filter: String?
    /// The position of the offending rule in the filter's rule list.
    public var ruleIndex: Int?
    /// Where the offending rule or condition was written, for filters read from JSON.
    public var position: SourcePosition?

    /// Creates an error.
    public init(_ kind: Kind, filter: String? = nil, ruleIndex: Int? = nil, position: SourcePosition? = nil) {
        self.kind = kind
        self.filter = filter
        self.ruleIndex = ruleIndex
        self.position = position
    }

    /// `"[filter: ][rule N ][(line:column)]: message"`.
    public var description: String {
        var context: [String] = []
        if let filter { context.append("filter \"\(filter)\"") }
        if let ruleIndex { context.append("rule \(ruleIndex)") }
        if let position { context.append("at \(position)") }
        let prefix = context.isEmpty ? "" : context.joined(separator: ", ") + ": "
        return prefix + message
    }

    private var message: String {
        switch kind {
        case .unknownSyscall(let name): return "unknown system call \"\(name)\""
        case .argumentIndexOutOfRange(let index): return "argument index \(index) is outside 0...5"
        case .valueTooWideForDword(let value): return "\(value) does not fit a dword (32 bits)"
        case .duplicateArgumentIndex(let index): return "argument \(index) is tested twice in one rule"
        case .errnoOutOfRange(let code): return "errno \(code) is outside 0...\(SeccompAction.maximumErrno)"
        case .libseccomp(let call, let errno): return "\(call): \(errno) (errno \(errno.rawValue))"
        case .export(let error): return "exporting the program: \(error)"
        case .program(let error): return error.description
        }
    }
}

extension SeccompFilter {
    /// Compiles the filter to a BPF program through libseccomp.
    ///
    /// `architecture` picks the system call table and the architecture check at the program's
    /// start; nil means the host's. When the match action equals the default action the rules
    /// cannot change any outcome (and libseccomp refuses them), so they are checked but the
    /// program holds the default action alone.
    ///
    /// ```swift
    /// let program = try filter.compile()
    /// print(program.instructions.count)
    /// ```
    public func compile(for architecture: Architecture? = nil) throws(SeccompCompileError) -> BPFProgram {
        try FilterCompiler(architecture: architecture).compile(self)
    }
}

extension SeccompPolicy {
    /// Compiles every filter, keyed by name; an error names the filter it comes from.
    public func compile(for architecture: Architecture? = nil) throws(SeccompCompileError) -> [String: BPFProgram] {
        var programs: [String: BPFProgram] = [:]
        for name in names {
            do {
                programs[name] = try filters[name]!.compile(for: architecture)
            } catch {
                var named = error
                named.filter = name
                throw named
            }
        }
        return programs
    }
}

/// One rule made ready for libseccomp: the syscall number and the comparisons.
private struct ResolvedRule {
    var syscall: Int32
    var comparisons: [scmp_arg_cmp]
}

private struct FilterCompiler {
    let architecture: Architecture?

    func compile(_ filter: SeccompFilter) throws(SeccompCompileError) -> BPFProgram {
        let defaultAction = try value(of: filter.defaultAction)
        let matchAction = try value(of: filter.matchAction)
        var resolved: [ResolvedRule] = []
        for (index, rule) in filter.rules.enumerated() {
            do {
                resolved.append(try resolve(rule))
            } catch {
                throw SeccompCompileError(error.kind, ruleIndex: index, position: error.position)
            }
        }

        // SAFETY: allocates a context owned by this function; NULL is rejected and the defer below releases it.
        guard let context = unsafe seccomp_init(defaultAction) else {
            throw SeccompCompileError(.libseccomp(call: "seccomp_init", errno: .invalidArgument))
        }
        // SAFETY: releases the context seccomp_init returned, once, after export has copied the program.
        defer { unsafe seccomp_release(context) }
        if let architecture, architecture.token != seccomp_arch_native() {
            // SAFETY: context came from seccomp_init above and is released only by the defer at scope exit.
            try unsafe check(seccomp_arch_add(context, architecture.token), "seccomp_arch_add(\(architecture))")
            try unsafe check(seccomp_arch_remove(context, 0), "seccomp_arch_remove(native)")  // SCMP_ARCH_NATIVE
        }
        if matchAction != defaultAction {
            for (index, rule) in resolved.enumerated() {
                let result = unsafe rule.comparisons.withUnsafeBufferPointer { comparisons in
                    // SAFETY: libseccomp reads `count` comparisons from the buffer during the call only.
                    unsafe seccomp_rule_add_array(
                        context, matchAction, rule.syscall, UInt32(comparisons.count), comparisons.baseAddress)
                }
                if result < 0 {
                    throw SeccompCompileError(
                        .libseccomp(call: "seccomp_rule_add_array", errno: Errno(rawValue: -result)),
                        ruleIndex: index, position: filter.rules[index].sourcePosition)
                }
            }
        }
        // SAFETY: context is still live; the defer releases it only after export has copied the program out.
        return try unsafe export(context)
    }

    private func check(_ result: Int32, _ call: String) throws(SeccompCompileError) {
        if result < 0 { throw SeccompCompileError(.libseccomp(call: call, errno: Errno(rawValue: -result))) }
    }

    private func value(of action: SeccompAction) throws(SeccompCompileError) -> UInt32 {
        switch action {
        case .allow: return cseccomp_act_allow()
        case .errno(let code):
            guard (0...SeccompAction.maximumErrno).contains(code) else {
                throw SeccompCompileError(.errnoOutOfRange(code))
            }
            return cseccomp_act_errno(UInt16(code))
        case .killThread: return cseccomp_act_kill_thread()
        case .killProcess: return cseccomp_act_kill_process()
        case .trap: return cseccomp_act_trap()
        case .log: return cseccomp_act_log()
        case .trace(let data): return cseccomp_act_trace(data)
        }
    }

    private func resolve(_ rule: Rule) throws(SeccompCompileError) -> ResolvedRule {
        // The name must exist on the target; libseccomp then wants the host's number (or its
        // pseudo number for calls the host lacks) and translates it for the target itself.
        guard architecture.syscallNumber(rule.syscall) != nil else {
            throw SeccompCompileError(.unknownSyscall(clipped(rule.syscall)), position: rule.sourcePosition)
        }
        // SAFETY: the name passed the check above (non-empty, no NUL); it is a C copy alive for the call, only read.
        let hostNumber = unsafe seccomp_syscall_resolve_name(rule.syscall)
        if hostNumber == cseccomp_nr_error() {
            throw SeccompCompileError(.unknownSyscall(clipped(rule.syscall)), position: rule.sourcePosition)
        }
        var tested: Set<Int> = []
        var comparisons: [scmp_arg_cmp] = []
        for condition in rule.conditions {
            let position = condition.sourcePosition ?? rule.sourcePosition
            guard (0...5).contains(condition.index) else {
                throw SeccompCompileError(.argumentIndexOutOfRange(condition.index), position: position)
            }
            if !tested.insert(condition.index).inserted {
                throw SeccompCompileError(.duplicateArgumentIndex(condition.index), position: position)
            }
            comparisons.append(try comparison(for: condition, position: position))
        }
        return ResolvedRule(syscall: hostNumber, comparisons: comparisons)
    }

    private func comparison(
        for condition: ArgumentCondition, position: SourcePosition?
    ) throws(SeccompCompileError) -> scmp_arg_cmp {
        let dword = condition.width == .dword
        let limit = UInt64(UInt32.max)
        if dword, condition.value > limit {
            throw SeccompCompileError(.valueTooWideForDword(condition.value), position: position)
        }
        let argument = UInt32(condition.index)
        let value = condition.value
        switch condition.comparison {
        case .equal:
            // libseccomp 2.5 compares all 64 bits; a dword equality masks the upper half away
            // (C libraries may leave garbage there for `int` arguments).
            return dword
                ? scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: limit, datum_b: value)
                : scmp_arg_cmp(arg: argument, op: SCMP_CMP_EQ, datum_a: value, datum_b: 0)
        case .notEqual: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_NE, datum_a: value, datum_b: 0)
        case .less: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_LT, datum_a: value, datum_b: 0)
        case .lessOrEqual: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_LE, datum_a: value, datum_b: 0)
        case .greater: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_GT, datum_a: value, datum_b: 0)
        case .greaterOrEqual: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_GE, datum_a: value, datum_b: 0)
        case .maskedEqual(let mask):
            if dword, mask > limit { throw SeccompCompileError(.valueTooWideForDword(mask), position: position) }
            return scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
        }
    }

    /// libseccomp 2.5 can only export to a descriptor, so the program goes through a memfd.
    private func export(_ context: scmp_filter_ctx) throws(SeccompCompileError) -> BPFProgram {
        let file: MemFd
        do {
            file = try MemFd(name: "seccompiler-bpf", size: 0)
        } catch {
            throw SeccompCompileError(.export(error))
        }
        // SAFETY: context is live until the caller's defer releases it; `file` owns the descriptor until we return.
        let result = unsafe seccomp_export_bpf(context, file.descriptor.rawValue)
        if result < 0 {
            throw SeccompCompileError(.libseccomp(call: "seccomp_export_bpf", errno: Errno(rawValue: -result)))
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(file.descriptor.rawValue, size: try file.size())
        } catch {
            throw SeccompCompileError(.export(error))
        }
        do {
            return try BPFProgram(bytes: bytes)
        } catch {
            throw SeccompCompileError(.program(error))
        }
    }

    private func readAll(_ fd: Int32, size: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = unsafe bytes.withUnsafeMutableBytes { raw in
                // SAFETY: done < size == raw.count, so the range [done, size) lies inside `bytes`.
                unsafe pread(fd, raw.baseAddress! + done, size - done, off_t(done))
            }
            if count < 0 {
                if Errno.current == .interrupted { continue }
                throw SystemError.current("pread(memfd)")
            }
            if count == 0 { break }  // the file shrank under us; BPFProgram(bytes:) judges the rest
            done += count
        }
        return Array(bytes[0..<done])
    }
}
