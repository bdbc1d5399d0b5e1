/// A node of the reverse-mode graph: a value, its gradient once `backward()` ran, and how to send
/// an upstream gradient to the inputs it was computed from. Graphs are built as operations run
/// (define-by-run, like micrograd on tensors) and dropped with their last reference.
public final class Variable: @unchecked Sendable {
    public var value: Tensor
    public var grad: Tensor?
    public let requiresGrad: Bool
    let inputs: [Variable]
    let backwardFunction: ((Tensor) -> Void)?

    /// A leaf: data (no gradient) or a trainable parameter (`requiresGrad`).
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.inputs = []
        self.backwardFunction = nil
    }

    /// The result of an operation; it needs a gradient when any input does and recording is on.
    public init(_ value: Tensor, inputs: [Variable], backward: @escaping (Tensor) -> Void) {
        self.value = value
        let needed = GradientMode.isEnabled && inputs.contains { $0.requiresGrad }
        self.requiresGrad = needed
        self.inputs = needed ? inputs : []
        self.backwardFunction = needed ? backward : nil
    }

    public var shape: [Int] { value.shape }

    /// Adds `gradient` to this variable's accumulated gradient.
    public func accumulate(_ gradient: Tensor) {
        guard requiresGrad else { return }
        if grad == nil {
            grad = gradient
        } else {
            grad!.storage.withUnsafeMutableBufferPointer { g in
                gradient.storage.withUnsafeBufferPointer { d in Kernels.add(d.baseAddress!, into: g.baseAddress!, g.count) }
            }
        }
    }

    /// Back-propagates from this scalar: gradients of every input that requires one.
    public func backward() {
        precondition(value.count == 1, "backward() starts from a scalar")
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for input in node.inputs where input.requiresGrad { stack.append((input, false)) }
        }
        grad = Tensor(shape: value.shape, storage: [1])
        for node in order.reversed() {
            guard let function = node.backwardFunction, let upstream = node.grad else { continue }
            function(upstream)
        }
    }
}

/// Whether operations record the graph. Off for evaluation (`GradientMode.withoutGradients`).
public enum GradientMode {
    @TaskLocal static var enabled = true

    public static var isEnabled: Bool { enabled }

    public static func withoutGradients<T>(_ body: () throws -> T) rethrows -> T {
        try $enabled.withValue(false) { try body() }
    }
}
