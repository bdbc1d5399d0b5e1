import RandomStreams

/// Adds a block's output to its input (through a projection when the shapes differ): ResNet's unit.
public final class Residual: Layer {
    public let body: Sequential
    public let shortcut: Sequential?
    public let kind = "Residual"

    public init(body: Sequential, shortcut: Sequential?) {
        self.body = body
        self.shortcut = shortcut
    }

    public func forward(_ x: Variable, training: Bool) -> Variable {
        let main = body.forward(x, training: training)
        let skip = shortcut?.forward(x, training: training) ?? x
        return Ops.relu(Ops.add(main, skip))
    }

    public var parameters: [(name: String, variable: Variable)] {
        body.parameters.map { ("body.\($0.name)", $0.variable) } + (shortcut?.parameters.map { ("shortcut.\($0.name)", $0.variable) } ?? [])
    }

    public var buffers: [(name: String, values: [Float])] {
        get { body.buffers.map { ("body.\($0.name)", $0.values) } + (shortcut?.buffers.map { ("shortcut.\($0.name)", $0.values) } ?? []) }
        set {
            body.buffers = newValue.filter { $0.name.hasPrefix("body.") }.map { (String($0.name.dropFirst(5)), $0.values) }
            shortcut?.buffers = newValue.filter { $0.name.hasPrefix("shortcut.") }.map { (String($0.name.dropFirst(9)), $0.values) }
        }
    }

    public func cost(input: [Int]) -> (output: [Int], macs: Int) {
        let main = body.cost(input: input)
        return (main.output, main.macs + (shortcut?.cost(input: input).macs ?? 0))
    }
}

public final class GlobalAveragePool: Layer {
    public let kind = "GlobalAveragePool"
    public init() {}
    public func forward(_ x: Variable, training: Bool) -> Variable { Convolution.globalAveragePool(x) }
    public var parameters: [(name: String, variable: Variable)] { [] }
    public func cost(input: [Int]) -> (output: [Int], macs: Int) { ([input[0]], 0) }
}

/// The ready-made backbones the clustering methods start from.
public enum Backbones {
    /// Feature vectors: Linear–BN–ReLU blocks to a `features`-wide output.
    public static func mlp(inputs: Int, hidden: [Int] = [512, 256], features: Int = 128, rng: inout RandomStream) -> Sequential {
        var layers: [any Layer] = []
        var width = inputs
        for size in hidden + [features] {
            layers += [Linear(width, size, bias: false, rng: &rng), BatchNormLayer(size, twoDimensional: false, relu: true)]
            width = size
        }
        return Sequential(layers)
    }

    /// The 8×8 digits net: conv3–BN–ReLU ×2, max-pool, linear to 128 (BN, ReLU), then `classes` outputs.
    public static func digitsNet(channels: Int = 1, classes: Int = 10, rng: inout RandomStream) -> Sequential {
        Sequential([
            Conv2d(channels, 32, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(32, twoDimensional: true, relu: true),
            Conv2d(32, 64, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(64, twoDimensional: true, relu: true),
            MaxPool2d(2), Flatten(),
            Linear(1024, 128, bias: false, rng: &rng), BatchNormLayer(128, twoDimensional: false, relu: true),
            Linear(128, classes, rng: &rng),
        ])
    }

    /// The 28×28 MNIST net of the issue: conv5(32)–conv5(64)–conv3(128), each BN–ReLU–pool, then 1152→128→classes.
    public static func mnistNet(channels: Int = 1, classes: Int = 10, rng: inout RandomStream) -> Sequential {
        Sequential([
            Conv2d(channels, 32, kernel: 5, padding: 2, rng: &rng), BatchNormLayer(32, twoDimensional: true, relu: true), MaxPool2d(2),
            Conv2d(32, 64, kernel: 5, padding: 2, rng: &rng), BatchNormLayer(64, twoDimensional: true, relu: true), MaxPool2d(2),
            Conv2d(64, 128, kernel: 3, padding: 1, rng: &rng), BatchNormLayer(128, twoDimensional: true, relu: true), MaxPool2d(2),
            Flatten(), Linear(1152, 128, rng: &rng), BatchNormLayer(128, twoDimensional: false, relu: true),
            Linear(128, classes, rng: &rng),
        ])
    }

    /// CIFAR-style ResNet-18 for 32×32 colour images (3×3 stem, no max-pool), ending in a 512-d feature.
    public static func resNet18(channels: Int = 3, rng: inout RandomStream) -> Sequential {
        var layers: [any Layer] = [
            Conv2d(channels, 64, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(64, twoDimensional: true, relu: true),
        ]
        var width = 64
        for (stage, outputs) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let stride = stage > 0 && block == 0 ? 2 : 1
                let body = Sequential([
                    Conv2d(width, outputs, kernel: 3, stride: stride, padding: 1, bias: false, rng: &rng),
                    BatchNormLayer(outputs, twoDimensional: true, relu: true),
                    Conv2d(outputs, outputs, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNormLayer(outputs, twoDimensional: true),
                ])
                let shortcut =
                    stride != 1 || width != outputs
                    ? Sequential([
                        Conv2d(width, outputs, kernel: 1, stride: stride, bias: false, rng: &rng), BatchNormLayer(outputs, twoDimensional: true),
                    ])
                    : nil
                layers.append(Residual(body: body, shortcut: shortcut))
                width = outputs
            }
        }
        layers += [GlobalAveragePool()]
        return Sequential(layers)
    }
}
