import Foundation
import RandomStreams

/// A building block of a network: a forward pass, its trainable parameters and buffers, and what it
/// costs (output shape and multiply–accumulates per sample for a given input shape).
public protocol Layer: AnyObject {
    func forward(_ x: Variable, training: Bool) -> Variable
    var parameters: [(name: String, variable: Variable)] { get }
    /// Non-trained state that checkpoints must keep (BatchNorm's running statistics).
    var buffers: [(name: String, values: [Float])] { get set }
    /// Per sample (no batch dimension): output shape and MACs, counting convolutions and linear maps only.
    func cost(input: [Int]) -> (output: [Int], macs: Int)
    var kind: String { get }
}

extension Layer {
    public var buffers: [(name: String, values: [Float])] {
        get { [] }
        set {}
    }
}

/// PyTorch's default initialization: U(−1/√fan_in, 1/√fan_in) for weights and biases.
func uniformInit(_ shape: [Int], fanIn: Int, rng: inout RandomStream) -> Tensor {
    let bound = 1 / Float(fanIn).squareRoot()
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, storage: (0..<count).map { _ in Float(rng.uniform() * 2 - 1) * bound })
}

public final class Linear: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let kind = "Linear"

    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, rng: inout RandomStream) {
        weight = Variable(uniformInit([outputs, inputs], fanIn: inputs, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(uniformInit([outputs], fanIn: inputs, rng: &rng), requiresGrad: true) : nil
    }

    public func forward(_ x: Variable, training: Bool) -> Variable {
        let product = Ops.matmul(x, weight, transposeB: true)
        return bias.map { Ops.addBias(product, $0) } ?? product
    }

    public var parameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func cost(input: [Int]) -> (output: [Int], macs: Int) {
        ([weight.shape[0]], weight.shape[0] * weight.shape[1])
    }
}

public final class Conv2d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int
    public let padding: Int
    public let kind = "Conv2d"

    public init(_ inputs: Int, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true, rng: inout RandomStream) {
        let fanIn = inputs * kernel * kernel
        weight = Variable(uniformInit([outputs, inputs, kernel, kernel], fanIn: fanIn, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(uniformInit([outputs], fanIn: fanIn, rng: &rng), requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
    }

    public func forward(_ x: Variable, training: Bool) -> Variable {
        Convolution.conv2d(x, weight, bias, stride: stride, padding: padding)
    }

    public var parameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func cost(input: [Int]) -> (output: [Int], macs: Int) {
        let g = Convolution.Geometry(channels: input[0], height: input[1], width: input[2], kernel: weight.shape[2], stride: stride, padding: padding)
        let outputs = weight.shape[0]
        return ([outputs, g.outputHeight, g.outputWidth], outputs * g.outputHeight * g.outputWidth * input[0] * weight.shape[2] * weight.shape[3])
    }
}

/// BatchNorm1d over [N, C] and BatchNorm2d over [N, C, H, W] alike.
public final class BatchNormLayer: Layer {
    public let gamma: Variable
    public let beta: Variable
    public var runningMean: [Float]
    public var runningVariance: [Float]
    public let kind: String
    /// Applies ReLU to the output in the same pass (see `BatchNorm.apply`).
    public let fusedReLU: Bool

    public init(_ channels: Int, twoDimensional: Bool, relu: Bool = false) {
        fusedReLU = relu
        gamma = Variable(Tensor(shape: [channels], storage: [Float](repeating: 1, count: channels)), requiresGrad: true)
        beta = Variable(Tensor(zeros: [channels]), requiresGrad: true)
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
        kind = (twoDimensional ? "BatchNorm2d" : "BatchNorm1d") + (relu ? "+ReLU" : "")
    }

    public func forward(_ x: Variable, training: Bool) -> Variable {
        BatchNorm.apply(
            x, gamma: gamma, beta: beta, runningMean: &runningMean, runningVariance: &runningVariance, training: training,
            relu: fusedReLU)
    }

    public var parameters: [(name: String, variable: Variable)] { [("weight", gamma), ("bias", beta)] }

    public var buffers: [(name: String, values: [Float])] {
        get { [("running_mean", runningMean), ("running_var", runningVariance)] }
        set {
            for (name, values) in newValue {
                if name == "running_mean" { runningMean = values }
                if name == "running_var" { runningVariance = values }
            }
        }
    }

    public func cost(input: [Int]) -> (output: [Int], macs: Int) { (input, 0) }
}

public final class ReLU: Layer {
    public let kind = "ReLU"
    public init() {}
    public func forward(_ x: Variable, training: Bool) -> Variable { Ops.relu(x) }
    public var parameters: [(name: String, variable: Variable)] { [] }
    public func cost(input: [Int]) -> (output: [Int], macs: Int) { (input, 0) }
}

public final class MaxPool2d: Layer {
    public let kernel: Int
    public let kind = "MaxPool2d"
    public init(_ kernel: Int) { self.kernel = kernel }
    public func forward(_ x: Variable, training: Bool) -> Variable { Convolution.maxPool2d(x, kernel: kernel) }
    public var parameters: [(name: String, variable: Variable)] { [] }
    public func cost(input: [Int]) -> (output: [Int], macs: Int) { ([input[0], input[1] / kernel, input[2] / kernel], 0) }
}

public final class Flatten: Layer {
    public let kind = "Flatten"
    public init() {}
    public func forward(_ x: Variable, training: Bool) -> Variable {
        Ops.reshape(x, [x.shape[0], x.value.count / x.shape[0]])
    }
    public var parameters: [(name: String, variable: Variable)] { [] }
    public func cost(input: [Int]) -> (output: [Int], macs: Int) { ([input.reduce(1, *)], 0) }
}

/// Layers applied in order.
public final class Sequential: Layer {
    public let layers: [any Layer]
    public let kind = "Sequential"

    public init(_ layers: [any Layer]) { self.layers = layers }

    public func forward(_ x: Variable, training: Bool) -> Variable {
        layers.reduce(x) { $1.forward($0, training: training) }
    }

    public var parameters: [(name: String, variable: Variable)] {
        layers.enumerated().flatMap { index, layer in layer.parameters.map { ("\(index).\($0.name)", $0.variable) } }
    }

    public var buffers: [(name: String, values: [Float])] {
        get { layers.enumerated().flatMap { index, layer in layer.buffers.map { ("\(index).\($0.name)", $0.values) } } }
        set {
            for (index, layer) in layers.enumerated() {
                let prefix = "\(index)."
                layer.buffers = newValue.filter { $0.name.hasPrefix(prefix) }.map { (String($0.name.dropFirst(prefix.count)), $0.values) }
            }
        }
    }

    public func cost(input: [Int]) -> (output: [Int], macs: Int) {
        var shape = input
        var total = 0
        for layer in layers {
            let (output, macs) = layer.cost(input: shape)
            shape = output
            total += macs
        }
        return (shape, total)
    }

    /// One row per layer: kind, output shape, parameters and MACs per sample (conv and linear only).
    public func summary(input: [Int]) -> (rows: [(kind: String, output: [Int], parameters: Int, macs: Int)], parameters: Int, macs: Int) {
        var shape = input
        var rows: [(kind: String, output: [Int], parameters: Int, macs: Int)] = []
        for layer in layers {
            let (output, macs) = layer.cost(input: shape)
            rows.append((layer.kind, output, layer.parameters.reduce(0) { $0 + $1.variable.value.count }, macs))
            shape = output
        }
        return (rows, rows.reduce(0) { $0 + $1.parameters }, rows.reduce(0) { $0 + $1.macs })
    }
}
