import Foundation

/// A sampled parameter: a scalar or a vector, optionally bounded. Bounded parameters are sampled
/// on an unconstrained scale (log or logit transform) with the Jacobian added, as Stan does, so
/// samplers never step outside the support.
public struct ParameterSpec: Sendable, Equatable {
    public var name: String
    /// nil for a scalar.
    public var size: Int?
    public var lower: Double?
    public var upper: Double?

    public init(name: String, size: Int? = nil, lower: Double? = nil, upper: Double? = nil) {
        self.name = name
        self.size = size
        self.lower = lower
        self.upper = upper
    }

    public var length: Int { size ?? 1 }
}

/// A user's log density over named parameters, compiled once; evaluators are per chain.
public struct Model: Sendable {
    public let parameters: [ParameterSpec]
    public let program: Program
    public let dimension: Int
    /// For each coordinate: its bounds, for the transforms.
    let bounds: [(lower: Double?, upper: Double?)]
    /// A model program's reported names (parameters, then transformed parameters); nil for an expression.
    let outputNames: [String]?

    public init(logDensity source: String, parameters: [ParameterSpec], data: [String: ExpressionSymbols.Value] = [:]) throws(ExpressionError) {
        self.parameters = parameters
        self.program = try ExpressionCompiler.compile(
            source, symbols: ExpressionSymbols(parameters: parameters.map { (name: $0.name, size: $0.size) }, data: data))
        self.dimension = parameters.reduce(0) { $0 + $1.length }
        self.bounds = parameters.flatMap { spec in Array(repeating: (spec.lower, spec.upper), count: spec.length) }
        self.outputNames = nil
    }

    /// A model program (Stan's blocks) over its data: the program itself transforms the unconstrained
    /// coordinates and adds the Jacobians, so the bounds here are all open.
    public init(program source: String, data: [String: ModelData]) throws(ExpressionError) {
        let compiled = try ModelCompiler.compile(source, data: data)
        self.parameters = []
        self.program = compiled.program
        self.dimension = compiled.dimension
        self.bounds = Array(repeating: (nil, nil), count: compiled.dimension)
        self.outputNames = compiled.outputNames
    }

    /// Whether this is a model program (its draws are computed by the program, not by bounds).
    public var isProgram: Bool { outputNames != nil }

    /// Coordinate names as they appear in results: `mu`, `theta[0]`, `theta[1]`, … (expressions;
    /// model programs name them as Stan does, `theta[1]`, `L[2,1]`).
    public var coordinateNames: [String] {
        if let outputNames { return outputNames }
        return parameters.flatMap { spec in
            spec.size == nil ? [spec.name] : (0..<spec.length).map { "\(spec.name)[\($0)]" }
        }
    }

    /// θ from the unconstrained z.
    public func constrain(_ z: [Double]) -> [Double] {
        var theta = z
        for i in 0..<dimension { theta[i] = Self.constrain(z[i], bounds[i]).value }
        return theta
    }

    /// z from θ; nil if θ lies outside the bounds.
    public func unconstrain(_ theta: [Double]) -> [Double]? {
        var z = theta
        for i in 0..<dimension {
            let (lower, upper) = bounds[i]
            let x = theta[i]
            switch (lower, upper) {
            case (let l?, let u?):
                guard x > l && x < u else { return nil }
                let s = (x - l) / (u - l)
                z[i] = log(s) - log1p(-s)
            case (let l?, nil):
                guard x > l else { return nil }
                z[i] = log(x - l)
            case (nil, let u?):
                guard x < u else { return nil }
                z[i] = log(u - x)
            case (nil, nil):
                z[i] = x
            }
        }
        return z
    }

    /// (θ, dθ/dz, log|dθ/dz|, d log|dθ/dz| / dz) for one coordinate.
    @inline(__always)
    static func constrain(_ z: Double, _ bound: (lower: Double?, upper: Double?)) -> (
        value: Double, slope: Double, logJacobian: Double, jacobianSlope: Double
    ) {
        switch bound {
        case (let l?, let u?):
            let s = 1 / (1 + exp(-z))
            let width = u - l
            return (l + width * s, width * s * (1 - s), log(width) + log(s) + log1p(-s), 1 - 2 * s)
        case (let l?, nil):
            let e = exp(z)
            return (l + e, e, z, 1)
        case (nil, let u?):
            let e = exp(z)
            return (u - e, -e, z, 1)
        case (nil, nil):
            return (z, 1, 0, 0)
        }
    }

    public func makeEvaluator() -> ModelEvaluator { ModelEvaluator(self) }
}

/// Log density on the unconstrained scale (with Jacobian) and its gradient, for one chain.
public final class ModelEvaluator {
    public let model: Model
    private let evaluator: Evaluator
    private var theta: [Double]
    private var thetaGradient: [Double]
    // Per-coordinate transform slopes, reused across calls (this runs once per leapfrog step).
    private var slopes: [Double]
    private var jacobianSlopes: [Double]

    init(_ model: Model) {
        self.model = model
        self.evaluator = Evaluator(model.program)
        self.theta = [Double](repeating: 0, count: model.dimension)
        self.thetaGradient = [Double](repeating: 0, count: model.dimension)
        self.slopes = [Double](repeating: 1, count: model.dimension)
        self.jacobianSlopes = [Double](repeating: 0, count: model.dimension)
    }

    public func logDensity(_ z: UnsafeBufferPointer<Double>) -> Double {
        var logJacobian = 0.0
        for i in 0..<model.dimension {
            let t = Model.constrain(z[i], model.bounds[i])
            theta[i] = t.value
            logJacobian += t.logJacobian
        }
        let value = theta.withUnsafeBufferPointer { evaluator.value($0) } + logJacobian
        return value.isNaN ? -.infinity : value
    }

    public func logDensity(_ z: [Double]) -> Double { z.withUnsafeBufferPointer { logDensity($0) } }

    /// What a draw at z reports: the constrained parameters (and a program's transformed parameters).
    public func draw(_ z: [Double]) -> [Double] {
        guard model.isProgram else { return model.constrain(z) }
        return z.withUnsafeBufferPointer { evaluator.outputs($0) }
    }

    public func logDensityAndGradient(_ z: UnsafeBufferPointer<Double>, into gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        var logJacobian = 0.0
        for i in 0..<model.dimension {
            let t = Model.constrain(z[i], model.bounds[i])
            theta[i] = t.value
            slopes[i] = t.slope
            jacobianSlopes[i] = t.jacobianSlope
            logJacobian += t.logJacobian
        }
        let value = theta.withUnsafeBufferPointer { theta in
            thetaGradient.withUnsafeMutableBufferPointer { evaluator.valueAndGradient(theta, into: $0) }
        }
        for i in 0..<model.dimension { gradient[i] = thetaGradient[i] * slopes[i] + jacobianSlopes[i] }
        let total = value + logJacobian
        return total.isNaN ? -.infinity : total
    }
}
