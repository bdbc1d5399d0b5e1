import Foundation

/// Updates parameters from their gradients.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    func step()
}

extension Optimizer {
    /// Clears the gradients of `parameters` before the next backward pass.
    public func zeroGradients(_ parameters: [Variable]) {
        for parameter in parameters { parameter.grad = nil }
    }
}

/// SGD with momentum (optionally Nesterov) and L2 weight decay, as PyTorch defines them.
public final class SGD: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    public var velocities: [[Float]]

    public init(_ parameters: [Variable], learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.velocities = parameters.map { [Float](repeating: 0, count: $0.value.count) }
    }

    public func step() {
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            for i in 0..<parameter.value.count {
                var d = grad.storage[i] + weightDecay * parameter.value.storage[i]
                if momentum != 0 {
                    velocities[index][i] = momentum * velocities[index][i] + d
                    d = nesterov ? d + momentum * velocities[index][i] : velocities[index][i]
                }
                parameter.value.storage[i] -= learningRate * d
            }
        }
    }
}

/// Adam (Kingma & Ba) with L2 weight decay, or AdamW's decoupled decay when `decoupled`.
public final class Adam: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public let decoupled: Bool
    public var firstMoments: [[Float]]
    public var secondMoments: [[Float]]
    public var steps: Int = 0

    public init(
        _ parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0, decoupled: Bool = false
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.firstMoments = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        self.secondMoments = firstMoments
    }

    public func step() {
        steps += 1
        let correction1 = 1 - pow(beta1, Float(steps))
        let correction2 = 1 - pow(beta2, Float(steps))
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            let (lr, decay, b1, b2, eps, decoupled) = (learningRate, weightDecay, beta1, beta2, epsilon, decoupled)
            firstMoments[index].withUnsafeMutableBufferPointer { m in
                secondMoments[index].withUnsafeMutableBufferPointer { v in
                    parameter.value.storage.withUnsafeMutableBufferPointer { p in
                        grad.storage.withUnsafeBufferPointer { g in
                            for i in 0..<p.count {
                                var d = g[i]
                                if decoupled {
                                    p[i] -= lr * decay * p[i]
                                } else {
                                    d += decay * p[i]
                                }
                                m[i] = b1 * m[i] + (1 - b1) * d
                                v[i] = b2 * v[i] + (1 - b2) * d * d
                                p[i] -= lr * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}
