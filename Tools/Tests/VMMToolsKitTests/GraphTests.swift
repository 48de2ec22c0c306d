// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct GraphTests {
    @Test func orderPutsDependenciesFirst() throws {
        let graph = DependencyGraph([
            "VirtioDevices": ["VirtioQueue", "VMMemory"], "VirtioQueue": ["VMMemory"], "VMMemory": ["VMMSysUtil"],
            "KVMIoctls": ["KVMBindings", "VMMSysUtil"],
        ])
        let order = try graph.topologicalOrder()
        #expect(order.count == 6)
        for (node, deps) in graph.dependencies {
            for dep in deps { #expect(order.firstIndex(of: dep)! < order.firstIndex(of: node)!) }
        }
        #expect(try graph.layers().first == ["KVMBindings", "VMMSysUtil"])
        #expect(graph.dependents(of: "VMMemory") == ["VirtioDevices", "VirtioQueue"])
    }

    @Test func cycleIsRejectedAndNamed() {
        let graph = DependencyGraph(["A": ["B"], "B": ["C"], "C": ["A"], "D": ["A"]])
        #expect(throws: DependencyCycleError(cycle: ["A", "B", "C"])) { try graph.topologicalOrder() }
        #expect(DependencyCycleError(cycle: ["A", "B", "C"]).description == "dependency cycle: A -> B -> C -> A")
    }

    @Test func cycleBetweenRealManifestsIsRejected() throws {
        let fixture = try FixtureWorkspace(packages: ["A": ["B"], "B": ["A"]])
        let graph = try DependencyGraph.load(fixture.workspace)
        #expect(throws: DependencyCycleError(cycle: ["A", "B"])) { try graph.render(.text) }
    }

    @Test func renderingsAgree() throws {
        let fixture = try FixtureWorkspace(packages: ["A": [], "B": ["A"], "C": ["A", "B"]])
        let graph = try DependencyGraph.load(fixture.workspace)
        #expect(try graph.render(.text) == "A\nB <- A\nC <- A, B\n")
        let json = try JSONSerialization.jsonObject(with: Data(graph.render(.json).utf8)) as? [String: Any]
        #expect(json?["order"] as? [String] == ["A", "B", "C"])
        let dot = try graph.render(.dot)
        #expect(dot.contains("\"C\" -> \"B\";") && dot.contains("\"B\" -> \"A\";"))
    }

    @Test func docsBlockRoundTrips() {
        let document = ArchitectureDocs.replacingGraph(in: "# Doc\n\ntext\n", with: "digraph { a }\n")
        #expect(ArchitectureDocs.embeddedGraph(in: document)?.0 == "digraph { a }\n")
        let updated = ArchitectureDocs.replacingGraph(in: document, with: "digraph { b }\n")
        #expect(ArchitectureDocs.embeddedGraph(in: updated)?.0 == "digraph { b }\n")
        #expect(updated.hasPrefix("# Doc\n\ntext\n"))
        #expect(updated.components(separatedBy: ArchitectureDocs.beginMarker).count == 2)
    }
}
