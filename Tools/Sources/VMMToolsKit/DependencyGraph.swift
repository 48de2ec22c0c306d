// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// A dependency cycle, listed so that each node depends on the next and the last
/// depends on the first.
public struct DependencyCycleError: Error, Equatable, CustomStringConvertible {
    /// The nodes on the cycle, starting from the alphabetically first one.
    public var cycle: [String]
    /// `dependency cycle: A -> B -> A`.
    public var description: String { "dependency cycle: " + (cycle + [cycle[0]]).joined(separator: " -> ") }
}

/// Packages and the packages each depends on.
public struct DependencyGraph: Sendable, Equatable {
    /// Each node's direct dependencies (every dependency is also a node).
    public private(set) var dependencies: [String: Set<String>]

    /// Creates a graph; dependencies that are not keys become nodes without dependencies.
    public init(_ dependencies: [String: Set<String>]) {
        var all = dependencies
        for targets in dependencies.values { for target in targets where all[target] == nil { all[target] = [] } }
        self.dependencies = all
    }

    /// Reads `Packages/*/Package.swift` of a workspace: an edge for each `.package(path:)`
    /// dependency that points at another folder under `Packages/`.
    public static func load(_ workspace: Workspace) throws -> DependencyGraph {
        var edges: [String: Set<String>] = [:]
        for name in workspace.packageNames() {
            let manifest = try PackageManifest.load(from: workspace.packageDirectory(name))
            edges[name] = Set(manifest.pathDependencies.map { URL(fileURLWithPath: $0).lastPathComponent })
        }
        return DependencyGraph(edges)
    }

    /// Node names, sorted.
    public var nodes: [String] { dependencies.keys.sorted() }

    /// Every node after all of its dependencies; ties broken alphabetically so the
    /// order is stable. Throws the first cycle found.
    public func topologicalOrder() throws(DependencyCycleError) -> [String] {
        if let cycle = findCycle() { throw DependencyCycleError(cycle: cycle) }
        var remaining = dependencies
        var order: [String] = []
        while !remaining.isEmpty {
            let ready = remaining.filter { $0.value.isSubset(of: Set(order)) }.keys.sorted()
            // No cycle, so something is always ready.
            order.append(contentsOf: ready)
            for name in ready { remaining[name] = nil }
        }
        return order
    }

    /// Layers: layer 0 has no dependencies, layer n depends only on layers below it.
    public func layers() throws(DependencyCycleError) -> [[String]] {
        let order = try topologicalOrder()
        var depth: [String: Int] = [:]
        for name in order { depth[name] = (dependencies[name] ?? []).map { depth[$0]! + 1 }.max() ?? 0 }
        let count = (depth.values.max() ?? -1) + 1
        return (0..<count).map { level in order.filter { depth[$0] == level } }
    }

    /// Every node that depends on `node`, directly or through others, sorted.
    public func dependents(of node: String) -> [String] {
        var found: Set<String> = []
        var frontier = [node]
        while let current = frontier.popLast() {
            for (name, deps) in dependencies where deps.contains(current) && !found.contains(name) {
                found.insert(name)
                frontier.append(name)
            }
        }
        return found.sorted()
    }

    /// A cycle if there is one (depth-first search, nodes visited alphabetically).
    public func findCycle() -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []

        func visit(_ node: String) -> [String]? {
            switch marks[node] {
            case .done: return nil
            case .visiting:
                let start = stack.firstIndex(of: node)!
                return Array(stack[start...])
            case nil: break
            }
            marks[node] = .visiting
            stack.append(node)
            for next in (dependencies[node] ?? []).sorted() {
                if let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            marks[node] = .done
            return nil
        }

        for node in nodes {
            if let cycle = visit(node) {
                // Rotate so the report is stable: start from the smallest name.
                let pivot = cycle.firstIndex(of: cycle.min()!)!
                return Array(cycle[pivot...] + cycle[..<pivot])
            }
        }
        return nil
    }

    // MARK: Rendering

    /// Output formats of `vmm-tools graph`.
    public enum Format: String, CaseIterable, Sendable {
        /// One package per line in dependency order, with its direct dependencies.
        case text
        /// `{"order": [...], "packages": {"A": {"dependencies": [...], "layer": 0}}}`.
        case json
        /// Graphviz, edges pointing from a package to what it uses.
        case dot
    }

    /// Renders the graph; fails on a cycle.
    public func render(_ format: Format) throws(DependencyCycleError) -> String {
        let order = try topologicalOrder()
        let layers = try layers()
        switch format {
        case .text:
            return order.map { name in
                let deps = (dependencies[name] ?? []).sorted()
                return deps.isEmpty ? name : "\(name) <- \(deps.joined(separator: ", "))"
            }.joined(separator: "\n") + "\n"
        case .json:
            var packages: [String: Any] = [:]
            for (level, names) in layers.enumerated() {
                for name in names {
                    packages[name] = ["dependencies": (dependencies[name] ?? []).sorted(), "layer": level]
                }
            }
            let object: [String: Any] = ["order": order, "packages": packages]
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            return String(decoding: data, as: UTF8.self) + "\n"
        case .dot:
            var lines = ["digraph packages {", "    rankdir=BT;", "    node [shape=box, fontname=\"Helvetica\"];"]
            for names in layers {
                lines.append("    { rank=same; " + names.map { "\"\($0)\";" }.joined(separator: " ") + " }")
            }
            for name in order {
                for dependency in (dependencies[name] ?? []).sorted() {
                    lines.append("    \"\(name)\" -> \"\(dependency)\";")
                }
            }
            lines.append("}")
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
