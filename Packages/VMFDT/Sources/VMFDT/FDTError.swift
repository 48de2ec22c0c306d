// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Why an ``FDTWriter`` refused a call: each structural rule of the devicetree
/// specification (v0.4, chapter 5) it checks has a case.
///
/// ```swift
/// var fdt = FDTWriter()
/// do {
///     _ = try fdt.beginNode("not a root")
/// } catch .rootNodeMustBeFirst {
///     print("the first node must be the root, named \"\"")
/// } catch {
///     print(error)
/// }
/// ```
public enum FDTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first node must be the root node, whose name is empty; there is only one.
    case rootNodeMustBeFirst
    /// A node name is empty, too long (node-name over 31 characters) or has characters outside `[0-9a-zA-Z,._+-]` (and one `@`).
    case invalidNodeName
    /// A sibling with the same name already exists.
    case duplicateNodeName
    /// A property name is empty, longer than 31 characters or has characters outside `[0-9a-zA-Z,._+?#-]`.
    case invalidPropertyName
    /// The node already has a property of that name.
    case duplicateProperty
    /// Properties must come before a node's subnodes.
    case propertyAfterSubnode
    /// A property was added with no node open.
    case propertyOutsideNode
    /// A string (or string-list element) contains a NUL byte.
    case stringContainsNul
    /// A phandle is 0 or 0xffffffff, which the specification reserves.
    case invalidPhandle(UInt32)
    /// Two nodes were given the same phandle.
    case duplicatePhandle(UInt32)
    /// `endNode` was given a node that is not the innermost open one.
    case unbalancedEndNode
    /// `finish` was called with nodes still open, or with no root node.
    case unclosedNodes(Int)
    /// A node was begun after the root node was closed.
    case nodeAfterRoot
    /// The blob would exceed 4 GiB (`totalsize` is 32-bit).
    case tooLarge
    /// A memory reservation's `address + size` wraps past 2^64.
    case reservationOverflow(address: UInt64, size: UInt64)

    /// One line naming the broken rule.
    public var description: String {
        switch self {
        case .rootNodeMustBeFirst: return "the first node must be the root node (empty name), and only one"
        case .invalidNodeName: return "invalid node name"
        case .duplicateNodeName: return "a sibling node has the same name"
        case .invalidPropertyName: return "invalid property name"
        case .duplicateProperty: return "the node already has this property"
        case .propertyAfterSubnode: return "properties must precede subnodes"
        case .propertyOutsideNode: return "property added outside any node"
        case .stringContainsNul: return "string property contains a NUL byte"
        case .invalidPhandle(let value): return "phandle \(value) is reserved"
        case .duplicatePhandle(let value): return "phandle \(value) is used twice"
        case .unbalancedEndNode: return "endNode does not match the innermost open node"
        case .unclosedNodes(let count): return "\(count) node(s) still open (or no root node)"
        case .nodeAfterRoot: return "node begun after the root node was closed"
        case .tooLarge: return "device tree would exceed 4 GiB"
        case .reservationOverflow(let address, let size):
            return "memory reservation at \(address) of \(size) bytes wraps past 2^64"
        }
    }
}
