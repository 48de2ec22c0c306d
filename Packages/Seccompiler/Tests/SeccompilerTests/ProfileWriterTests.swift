// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Testing
import VMMSysUtil

@Suite struct ProfileWriterTests {
    /// SwiftPM sets LLVM_PROFILE_FILE for `swift test --enable-code-coverage`, the one way
    /// these tests run instrumented; the runtime check must agree with it.
    @Test func detectsTheProfileRuntimeOfCoverageBuilds() {
        let coverageRun = getenv("LLVM_PROFILE_FILE") != nil
        #expect(ProfileWriter.isLinked == coverageRun)
    }

    /// The rules compile, let the writer's calls through and nothing else.
    @Test func rulesAllowTheWritersCallsOnly() throws {
        var filter = SeccompFilter(default: .errno(EPERM)) { Rule("exit_group") }
        filter.rules += ProfileWriter.rules
        let program = try filter.compile()
        // A null path: the kernel itself answers EFAULT, so the call got through.
        #expect(
            try program.probe("openat", arguments: [UInt64(bitPattern: -100), 0, 0]) == .failed(Errno(rawValue: EFAULT))
        )
        #expect(try program.probe("ftruncate", arguments: [UInt64(bitPattern: -1), 0]) == .failed(.badFileDescriptor))
        #expect(try program.probe("prctl", arguments: [1, 0]) == .returned(0))  // PR_SET_PDEATHSIG 0
        #expect(try program.probe("prctl", arguments: [4, 0]) == .failed(.notPermitted))  // PR_SET_DUMPABLE
        #expect(try program.probe("socket", arguments: [1, 1, 0]) == .failed(.notPermitted))
    }
}
