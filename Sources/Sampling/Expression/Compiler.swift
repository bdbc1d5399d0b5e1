import Foundation

/// What an expression may refer to: parameters (the sampled vector θ, in declaration order) and
/// data (fixed numbers and arrays).
public struct ExpressionSymbols: Sendable {
    public enum Value: Sendable {
        case scalar(Double)
        case vector([Double])
    }

    /// Name and size; a size of nil is a scalar.
    public var parameters: [(name: String, size: Int?)]
    public var data: [String: Value]

    public init(parameters: [(name: String, size: Int?)] = [], data: [String: Value] = [:]) {
        self.parameters = parameters
        self.data = data
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + ($1.size ?? 1) } }
}

/// Type-checks an expression against its symbols and compiles it to a `Program`. The language is
/// pure arithmetic: there is no way to loop, allocate without bound, touch files or run code.
public struct ExpressionCompiler {
    public static let constants: [String: Double] = ["pi": Double.pi, "e": M_E, "inf": .infinity]

    static let unaryFunctions: [String: Program.UnaryOp] = [
        "exp": .exp, "log": .log, "log1p": .log1p, "expm1": .expm1, "sqrt": .sqrt, "abs": .abs, "sin": .sin,
        "cos": .cos, "tan": .tan, "tanh": .tanh, "atan": .atan, "lgamma": .lgamma, "inv_logit": .logistic,
    ]

    /// Log densities written in the language itself, so their gradients come from the primitives.
    static let templates: [String: (parameters: [String], body: String)] = [
        "normal_lpdf": (["x", "mu", "sigma"], "-0.5 * ((x - mu) / sigma)^2 - log(sigma) - 0.91893853320467274178"),
        "lognormal_lpdf": (["x", "mu", "sigma"], "x > 0 ? -0.5 * ((log(x) - mu) / sigma)^2 - log(sigma) - log(x) - 0.91893853320467274178 : -inf"),
        "exponential_lpdf": (["x", "rate"], "x >= 0 ? log(rate) - rate * x : -inf"),
        "gamma_lpdf": (["x", "shape", "rate"], "x >= 0 ? shape * log(rate) + (shape - 1) * log(x) - rate * x - lgamma(shape) : -inf"),
        "inv_gamma_lpdf": (["x", "shape", "scale"], "x > 0 ? shape * log(scale) - lgamma(shape) - (shape + 1) * log(x) - scale / x : -inf"),
        "beta_lpdf": (["x", "a", "b"], "x >= 0 && x <= 1 ? lgamma(a + b) - lgamma(a) - lgamma(b) + (a - 1) * log(x) + (b - 1) * log1p(-x) : -inf"),
        "chi_square_lpdf": (["x", "df"], "x >= 0 ? (df / 2 - 1) * log(x) - x / 2 - (df / 2) * 0.69314718055994530942 - lgamma(df / 2) : -inf"),
        "student_t_lpdf": (
            ["x", "df", "mu", "sigma"],
            "lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * log(df * pi) - log(sigma) - (df + 1) / 2 * log1p(((x - mu) / sigma)^2 / df)"
        ),
        "cauchy_lpdf": (["x", "location", "scale"], "-log(pi * scale) - log1p(((x - location) / scale)^2)"),
        "laplace_lpdf": (["x", "location", "scale"], "-log(2 * scale) - abs(x - location) / scale"),
        "logistic_lpdf": (
            ["x", "location", "scale"],
            "-abs((x - location) / scale) - log(scale) - 2 * log1p(exp(-abs((x - location) / scale)))"
        ),
        "uniform_lpdf": (["x", "low", "high"], "x >= low && x <= high ? -log(high - low) : -inf"),
        "weibull_lpdf": (["x", "shape", "scale"], "x >= 0 ? log(shape / scale) + (shape - 1) * log(x / scale) - (x / scale)^shape : -inf"),
        "poisson_lpmf": (["k", "lambda"], "k * log(lambda) - lambda - lgamma(k + 1)"),
        "binomial_lpmf": (["k", "n", "p"], "lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * log(p) + (n - k) * log1p(-p)"),
        "bernoulli_lpmf": (["k", "p"], "k * log(p) + (1 - k) * log1p(-p)"),
    ]

    public static var functionNames: [String] {
        (Array(unaryFunctions.keys) + Array(templates.keys) + ["pow", "sum", "mean", "length", "log_sum_exp", "min", "max", "if", "dot"]).sorted()
    }

    private let source: String
    private let symbols: ExpressionSymbols
    private var slots: [Program.Slot] = []
    private var instructions: [Program.Instruction] = []
    private var initialValues: [Double] = []
    private var cache: [String: Int] = [:]

    /// Compiles `source`; errors give the position and the problem.
    public static func compile(_ source: String, symbols: ExpressionSymbols) throws(ExpressionError) -> Program {
        let tree = try Parser.parse(source)
        var compiler = ExpressionCompiler(source: source, symbols: symbols)
        var scope: [String: Int] = [:]
        var thetaOffset = 0
        for parameter in symbols.parameters {
            guard Self.isIdentifier(parameter.name) else {
                throw ExpressionError("parameter name \"\(parameter.name.prefix(40))\" is not an identifier", at: 0, in: source)
            }
            let slot = try compiler.newSlot(length: parameter.size ?? 1, isScalar: parameter.size == nil, active: true)
            compiler.instructions.append(.parameter(out: slot, thetaOffset: thetaOffset))
            scope[parameter.name] = slot
            thetaOffset += parameter.size ?? 1
        }
        let result = try compiler.compile(tree, scope: scope)
        guard compiler.slots[result].isScalar else {
            throw ExpressionError(
                "the expression is a vector of length \(compiler.slots[result].length); a log density must be a single number (use sum(...))",
                at: 0, in: source)
        }
        return Program(
            slots: compiler.slots, instructions: compiler.instructions, initialValues: compiler.initialValues,
            result: result, parameterCount: symbols.parameterCount)
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    private init(source: String, symbols: ExpressionSymbols) {
        self.source = source
        self.symbols = symbols
    }

    private mutating func newSlot(length: Int, isScalar: Bool, active: Bool) throws(ExpressionError) -> Int {
        // Every slot is a run of doubles the evaluator keeps (twice, with the gradient): a long expression
        // over a long data vector must be refused here, not allocate gigabytes per chain.
        guard initialValues.count + length <= ExpressionLimits.maxWorkingValues else {
            throw ExpressionError(
                "the expression over this data needs more than \(ExpressionLimits.maxWorkingValues) working values "
                    + "(each vector operation holds one value per data element); simplify it or use less data", at: 0, in: source)
        }
        slots.append(Program.Slot(offset: initialValues.count, length: length, isScalar: isScalar, active: active))
        initialValues.append(contentsOf: repeatElement(0, count: length))
        return slots.count - 1
    }

    private mutating func constant(_ value: Double) throws(ExpressionError) -> Int {
        let key = "c:\(value.bitPattern)"
        if let slot = cache[key] { return slot }
        let slot = try newSlot(length: 1, isScalar: true, active: false)
        initialValues[slots[slot].offset] = value
        cache[key] = slot
        return slot
    }

    private mutating func dataSlot(_ name: String, _ value: ExpressionSymbols.Value) throws(ExpressionError) -> Int {
        let key = "d:\(name)"
        if let slot = cache[key] { return slot }
        let slot: Int
        switch value {
        case .scalar(let number):
            slot = try newSlot(length: 1, isScalar: true, active: false)
            initialValues[slots[slot].offset] = number
        case .vector(let numbers):
            slot = try newSlot(length: numbers.count, isScalar: false, active: false)
            initialValues.replaceSubrange(slots[slot].offset..<(slots[slot].offset + numbers.count), with: numbers)
        }
        cache[key] = slot
        return slot
    }

    private func error(_ message: String, _ node: Node) -> ExpressionError {
        ExpressionError(message, at: node.offset, in: source)
    }

    private func shape(_ slot: Int) -> String {
        slots[slot].isScalar ? "a number" : "a vector of length \(slots[slot].length)"
    }

    private mutating func compile(_ node: Node, scope: [String: Int]) throws(ExpressionError) -> Int {
        switch node {
        case .number(let value, _):
            return try constant(value)
        case .variable(let name, _):
            if let slot = scope[name] { return slot }
            if let value = symbols.data[name] { return try dataSlot(name, value) }
            if let value = Self.constants[name] { return try constant(value) }
            let known = (symbols.parameters.map(\.name) + symbols.data.keys.sorted()).joined(separator: ", ")
            throw error("unknown name \"\(name)\"" + (known.isEmpty ? "" : "; parameters and data are: \(known)"), node)
        case .unary(let op, let operand, _):
            let a = try compile(operand, scope: scope)
            return try emitUnary(op == "-" ? .negate : .not, a)
        case .binary(let op, let left, let right, _):
            let a = try compile(left, scope: scope)
            let b = try compile(right, scope: scope)
            let map: [String: Program.BinaryOp] = [
                "+": .add, "-": .subtract, "*": .multiply, "/": .divide, "^": .power, "<": .less, "<=": .lessEqual,
                ">": .greater, ">=": .greaterEqual, "==": .equal, "!=": .notEqual, "&&": .and, "||": .or,
            ]
            return try emitBinary(map[op]!, a, b, node)
        case .conditional(let condition, let whenTrue, let whenFalse, _):
            let c = try compile(condition, scope: scope)
            let a = try compile(whenTrue, scope: scope)
            let b = try compile(whenFalse, scope: scope)
            return try emitSelect(c, a, b, node)
        case .index(let vector, let position, _):
            let a = try compile(vector, scope: scope)
            guard !slots[a].isScalar else { throw error("only vectors can be indexed; this is a number", node) }
            let i = try compile(position, scope: scope)
            guard slots[i].isScalar else { throw error("an index must be a number, not \(shape(i))", node) }
            let out = try newSlot(length: 1, isScalar: true, active: slots[a].active)
            instructions.append(.index(out: out, a: a, i: i))
            return out
        case .call(let name, let arguments, _):
            return try compileCall(name, arguments, node, scope: scope)
        }
    }

    private mutating func compileCall(_ name: String, _ arguments: [Node], _ node: Node, scope: [String: Int]) throws(ExpressionError) -> Int {
        func arity(_ count: Int) throws(ExpressionError) {
            guard arguments.count == count else {
                throw error("\(name) takes \(count) argument\(count == 1 ? "" : "s"), got \(arguments.count)", node)
            }
        }
        if let op = Self.unaryFunctions[name] {
            try arity(1)
            return try emitUnary(op, try compile(arguments[0], scope: scope))
        }
        if let template = Self.templates[name] {
            try arity(template.parameters.count)
            var local = scope
            for (parameter, argument) in zip(template.parameters, arguments) {
                local[parameter] = try compile(argument, scope: scope)
            }
            // Template bodies are fixed text in this file; a parse failure is a programming error.
            let body = try! Parser.parse(template.body)
            var inner = ExpressionCompilerScope(compiler: self)
            let result = try inner.compileTemplate(body, scope: local, name: name, callNode: node)
            self = inner.compiler
            return result
        }
        switch name {
        case "pow", "min", "max",
            "log_sum_exp" where arguments.count == 2:
            try arity(2)
            let a = try compile(arguments[0], scope: scope)
            let b = try compile(arguments[1], scope: scope)
            let op: Program.BinaryOp = name == "pow" ? .power : name == "min" ? .minimum : name == "max" ? .maximum : .logSumExp
            return try emitBinary(op, a, b, node)
        case "log_sum_exp":
            try arity(1)
            let a = try compile(arguments[0], scope: scope)
            if slots[a].isScalar { return a }
            let out = try newSlot(length: 1, isScalar: true, active: slots[a].active)
            instructions.append(.logSumExpReduce(out: out, a: a))
            return out
        case "sum", "mean":
            try arity(1)
            let a = try compile(arguments[0], scope: scope)
            if slots[a].isScalar { return a }
            let out = try newSlot(length: 1, isScalar: true, active: slots[a].active)
            instructions.append(.sum(out: out, a: a))
            return name == "sum" ? out : try emitBinary(.divide, out, try constant(Double(slots[a].length)), node)
        case "length":
            try arity(1)
            let a = try compile(arguments[0], scope: scope)
            return try constant(Double(slots[a].length))
        case "dot":
            try arity(2)
            let a = try compile(arguments[0], scope: scope)
            let b = try compile(arguments[1], scope: scope)
            let product = try emitBinary(.multiply, a, b, node)
            let out = try newSlot(length: 1, isScalar: true, active: slots[product].active)
            instructions.append(.sum(out: out, a: product))
            return out
        case "if":
            try arity(3)
            let c = try compile(arguments[0], scope: scope)
            let a = try compile(arguments[1], scope: scope)
            let b = try compile(arguments[2], scope: scope)
            return try emitSelect(c, a, b, node)
        default:
            throw error("unknown function \"\(name)\"; available: \(Self.functionNames.joined(separator: ", "))", node)
        }
    }

    fileprivate var sourceText: String { source }

    fileprivate mutating func compileNode(_ node: Node, scope: [String: Int]) throws(ExpressionError) -> Int {
        try compile(node, scope: scope)
    }

    private mutating func emitUnary(_ op: Program.UnaryOp, _ a: Int) throws(ExpressionError) -> Int {
        let out = try newSlot(length: slots[a].length, isScalar: slots[a].isScalar, active: slots[a].active)
        instructions.append(.unary(op, out: out, a: a))
        return out
    }

    private mutating func broadcastShape(_ operands: [Int], _ node: Node) throws(ExpressionError) -> (length: Int, isScalar: Bool) {
        let vectors = operands.filter { !slots[$0].isScalar }
        guard let first = vectors.first else { return (1, true) }
        for other in vectors where slots[other].length != slots[first].length {
            throw error("vector lengths differ: \(slots[first].length) and \(slots[other].length)", node)
        }
        guard slots[first].length <= ExpressionLimits.maxVectorLength else { throw error("vector too long", node) }
        return (slots[first].length, false)
    }

    private mutating func emitBinary(_ op: Program.BinaryOp, _ a: Int, _ b: Int, _ node: Node) throws(ExpressionError) -> Int {
        let shape = try broadcastShape([a, b], node)
        let out = try newSlot(length: shape.length, isScalar: shape.isScalar, active: slots[a].active || slots[b].active)
        instructions.append(.binary(op, out: out, a: a, b: b))
        return out
    }

    private mutating func emitSelect(_ c: Int, _ a: Int, _ b: Int, _ node: Node) throws(ExpressionError) -> Int {
        let shape = try broadcastShape([c, a, b], node)
        let out = try newSlot(length: shape.length, isScalar: shape.isScalar, active: slots[a].active || slots[b].active)
        instructions.append(.select(out: out, condition: c, a: a, b: b))
        return out
    }
}

/// Compiles a template body with the caller's compiler state, reporting errors at the call site.
private struct ExpressionCompilerScope {
    var compiler: ExpressionCompiler

    mutating func compileTemplate(_ body: Node, scope: [String: Int], name: String, callNode: Node) throws(ExpressionError) -> Int {
        do {
            return try compiler.compileNode(body, scope: scope)
        } catch {
            throw ExpressionError("in \(name)(...): \(error.message)", at: callNode.offset, in: compiler.sourceText)
        }
    }
}
