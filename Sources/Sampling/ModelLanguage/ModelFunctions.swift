import Foundation

/// The functions a model program can call: Stan's names and argument orders, each built from tape
/// operations (vectorized where the argument is a vector) or computed while compiling when every
/// argument is data.
extension ModelCompiler {
    static let unaryFunctions: [String: Program.UnaryOp] = [
        "exp": .exp, "log": .log, "log1p": .log1p, "expm1": .expm1, "sqrt": .sqrt, "fabs": .abs, "abs": .abs, "sin": .sin, "cos": .cos,
        "tan": .tan, "tanh": .tanh, "atan": .atan, "lgamma": .lgamma, "inv_logit": .logistic, "log1p_exp": .softplus, "round": .round,
    ]

    static let constantFunctions: [String: Double] = [
        "pi": .pi, "e": M_E, "sqrt2": 2.0.squareRoot(), "log2": M_LN2, "log10": M_LN10, "negative_infinity": -.infinity,
        "positive_infinity": .infinity, "not_a_number": .nan, "machine_precision": .ulpOfOne,
    ]

    static var functionNames: [String] {
        let others = [
            "square", "inv", "log1m", "logit", "log_inv_logit", "log1m_inv_logit", "floor", "ceil", "pow", "fmin", "fmax", "min", "max",
            "log_sum_exp", "log_mix", "sum", "mean", "sd", "variance", "dot_product", "dot_self", "cumulative_sum", "softmax", "log_softmax",
            "rep_vector", "rep_row_vector", "rep_array", "rep_matrix", "diag_matrix", "identity_matrix", "to_vector", "to_row_vector",
            "to_array_1d", "size", "num_elements", "rows", "cols", "segment", "head", "tail", "append_row", "cholesky_decompose",
            "mdivide_left_tri_low", "gp_exp_quad_cov", "lchoose", "dirichlet_lpdf", "multi_normal_lpdf", "multi_normal_cholesky_lpdf",
        ]
        let densities = DensityFamily.allCases.map { $0.rawValue + ($0.isDiscrete ? "_lpmf" : "_lpdf") }
        return (Array(unaryFunctions.keys) + Array(constantFunctions.keys) + others + densities).sorted()
    }

    mutating func call(_ name: String, _ expressions: [ModelExpression], at: Int) throws(ExpressionError) -> ModelValue {
        for suffix in ["_lpdf", "_lupdf", "_lpmf", "_lupmf"] where name.hasSuffix(suffix) && !expressions.isEmpty {
            return try density(String(name.dropLast(suffix.count)), outcome: expressions[0], arguments: Array(expressions.dropFirst()), at: at)
        }
        if let constant = Self.constantFunctions[name] {
            guard expressions.isEmpty else { throw error("\(name)() takes no arguments", at: at) }
            return .scalar(.constant(constant))
        }
        var arguments: [ModelValue] = []
        for expression in expressions { arguments.append(try evaluate(expression)) }
        func arity(_ counts: Int...) throws(ExpressionError) {
            guard counts.contains(arguments.count) else {
                throw error(
                    "\(name) takes \(counts.map(String.init).joined(separator: " or ")) argument\(counts == [1] ? "" : "s"), got \(arguments.count)",
                    at: at)
            }
        }
        if let op = Self.unaryFunctions[name] {
            try arity(1)
            return try unary(op, arguments[0], at: at)
        }
        switch name {
        case "square":
            try arity(1)
            return try elementwise(.multiply, arguments[0], arguments[0], at: at)
        case "inv":
            try arity(1)
            return try elementwise(.divide, .scalar(.constant(1)), arguments[0], at: at)
        case "log1m":
            try arity(1)
            return try unary(.log1p, try unary(.negate, arguments[0], at: at), at: at)
        case "logit":
            try arity(1)
            let x = arguments[0]
            return try elementwise(.subtract, try unary(.log, x, at: at), try unary(.log1p, try unary(.negate, x, at: at), at: at), at: at)
        case "log_inv_logit":
            try arity(1)
            return try unary(.negate, try unary(.softplus, try unary(.negate, arguments[0], at: at), at: at), at: at)
        case "log1m_inv_logit":
            try arity(1)
            return try unary(.negate, try unary(.softplus, arguments[0], at: at), at: at)
        case "floor", "ceil":
            try arity(1)
            guard let numbers = try constantValues(arguments[0]) else { throw error("\(name) needs a value known from the data", at: at) }
            var result = arguments[0]
            result.storage = .elements(numbers.map { .constant(name == "floor" ? $0.rounded(.down) : $0.rounded(.up)) })
            return result
        case "pow", "fmin", "fmax":
            try arity(2)
            return try elementwise(name == "pow" ? .power : name == "fmin" ? .minimum : .maximum, arguments[0], arguments[1], at: at)
        case "min", "max":
            try arity(1, 2)
            let op: Program.BinaryOp = name == "min" ? .minimum : .maximum
            if arguments.count == 2 { return try elementwise(op, arguments[0], arguments[1], at: at) }
            let references = try self.references(arguments[0])
            guard var best = references.first else { throw error("\(name) of an empty container", at: at) }
            for reference in references.dropFirst() { best = try scalar(op, best, reference, at: at) }
            return .scalar(best, isInteger: arguments[0].isInteger)
        case "log_sum_exp":
            try arity(1, 2)
            if arguments.count == 2 { return try elementwise(.logSumExp, arguments[0], arguments[1], at: at) }
            let x = arguments[0]
            if let numbers = try constantValues(x) {
                let largest = numbers.max() ?? -.infinity
                return .scalar(.constant(largest.isFinite ? largest + log(numbers.reduce(0) { $0 + exp($1 - largest) }) : largest))
            }
            if x.count == 1 { return .scalar(try references(x)[0]) }
            let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
            tape.instructions.append(.logSumExpReduce(out: out, a: try materializeValue(x, at: at)))
            return .scalar(.element(slot: out, index: 0))
        case "log_mix":
            try arity(3)
            let theta = arguments[0]
            let first = try elementwise(.add, try unary(.log, theta, at: at), arguments[1], at: at)
            let second = try elementwise(.add, try unary(.log1p, try unary(.negate, theta, at: at), at: at), arguments[2], at: at)
            return try elementwise(.logSumExp, first, second, at: at)
        case "sum":
            try arity(1)
            return .scalar(try sumValue(arguments[0], at: at), isInteger: arguments[0].isInteger)
        case "mean", "variance", "sd":
            try arity(1)
            let x = arguments[0]
            guard x.count > (name == "mean" ? 0 : 1) else {
                throw error("\(name) needs \(name == "mean" ? "one element" : "two elements") or more", at: at)
            }
            let mean = try scalar(.divide, try sumValue(x, at: at), .constant(Double(x.count)), at: at)
            if name == "mean" { return .scalar(mean) }
            let centered = try elementwise(.subtract, x, .scalar(mean), at: at)
            let squares = try elementwise(.multiply, centered, centered, at: at)
            let variance = try scalar(.divide, try sumValue(squares, at: at), .constant(Double(x.count - 1)), at: at)
            return .scalar(name == "variance" ? variance : try scalar(.sqrt, variance, at: at))
        case "dot_product":
            try arity(2)
            guard arguments[0].count == arguments[1].count else { throw error("dot_product's vectors differ in length", at: at) }
            return .scalar(try sumValue(try elementwise(.multiply, flat(arguments[0]), flat(arguments[1]), at: at), at: at))
        case "dot_self":
            try arity(1)
            return .scalar(try sumValue(try elementwise(.multiply, arguments[0], arguments[0], at: at), at: at))
        case "cumulative_sum":
            try arity(1)
            var running = ModelReference.constant(0)
            var output: [ModelReference] = []
            for reference in try references(arguments[0]) {
                running = try scalar(.add, running, reference, at: at)
                output.append(running)
            }
            var result = arguments[0]
            result.storage = .elements(output)
            return result
        case "softmax", "log_softmax":
            try arity(1)
            let x = arguments[0]
            guard x.form == .vector && x.arrayDimensions.isEmpty else { throw error("\(name) takes a vector", at: at) }
            let total = try call("log_sum_exp", [], preEvaluated: [x], at: at)
            let logs = try elementwise(.subtract, x, total, at: at)
            return name == "softmax" ? try unary(.exp, logs, at: at) : logs
        case "rep_vector", "rep_row_vector", "rep_array", "rep_matrix":
            let isMatrix = name == "rep_matrix"
            try arity(name == "rep_array" ? 2 : isMatrix ? 3 : 2, name == "rep_array" ? 3 : isMatrix ? 3 : 2)
            var sizes: [Int] = []
            for (index, expression) in expressions.enumerated().dropFirst() {
                guard let number = try constantValues(arguments[index])?.first, arguments[index].isScalar, arguments[index].isInteger,
                    let size = Int(exactly: number), size >= 0, size <= ExpressionLimits.maxVectorLength
                else { throw error("\(name)'s sizes must be ints from the data", at: expression.offset) }
                sizes.append(size)
            }
            // The result holds sizes × the element's values: bounded before anything is allocated.
            guard let all = ModelValue.product(sizes + [max(1, arguments[0].count)]), all <= ExpressionLimits.maxVectorLength else {
                throw error("\(name) would make more than \(ExpressionLimits.maxVectorLength) values", at: at)
            }
            let total = all / max(1, arguments[0].count)
            let element = arguments[0]
            let references = try self.references(element)
            var result = element
            switch name {
            case "rep_vector", "rep_row_vector":
                guard element.isScalar else { throw error("\(name) repeats a number", at: at) }
                result = ModelValue(
                    arrayDimensions: [], form: name == "rep_vector" ? .vector : .rowVector, shape: sizes, isInteger: false, storage: .elements([]))
            case "rep_matrix":
                guard element.isScalar else { throw error("rep_matrix repeats a number", at: at) }
                result = ModelValue(arrayDimensions: [], form: .matrix, shape: sizes, isInteger: false, storage: .elements([]))
            default:
                result.arrayDimensions = sizes + element.arrayDimensions
            }
            var output: [ModelReference] = []
            output.reserveCapacity(total * references.count)
            for _ in 0..<total { output.append(contentsOf: references) }
            result.storage = .elements(output)
            return result
        case "diag_matrix":
            try arity(1)
            let references = try self.references(arguments[0])
            let n = references.count
            guard n * n <= ExpressionLimits.maxVectorLength else { throw error("diag_matrix of \(n) elements is too large", at: at) }
            var output = [ModelReference](repeating: .constant(0), count: n * n)
            for i in 0..<n { output[i * n + i] = references[i] }
            return ModelValue(arrayDimensions: [], form: .matrix, shape: [n, n], isInteger: false, storage: .elements(output))
        case "identity_matrix":
            try arity(1)
            let n = try integerArgument(arguments[0], "identity_matrix's size", at: at)
            guard n * n <= ExpressionLimits.maxVectorLength else { throw error("identity_matrix(\(n)) is too large", at: at) }
            var output = [ModelReference](repeating: .constant(0), count: n * n)
            for i in 0..<n { output[i * n + i] = .constant(1) }
            return ModelValue(arrayDimensions: [], form: .matrix, shape: [n, n], isInteger: false, storage: .elements(output))
        case "to_vector", "to_row_vector", "to_array_1d":
            try arity(1)
            var x = arguments[0]
            // Stan flattens matrices column by column.
            if x.form == .matrix && x.arrayDimensions.isEmpty { x = try transposed(x, at: at) }
            var result = ModelValue(
                arrayDimensions: [], form: name == "to_vector" ? .vector : .rowVector, shape: [x.count], isInteger: false, storage: x.storage)
            if name == "to_array_1d" { (result.arrayDimensions, result.form, result.shape, result.isInteger) = ([x.count], .scalar, [], x.isInteger) }
            return result
        case "size", "num_elements", "rows", "cols":
            try arity(1)
            let x = arguments[0]
            let value: Int
            switch name {
            case "size": value = x.dimensions.first ?? 1
            case "num_elements": value = x.count
            case "rows": value = x.form == .rowVector ? 1 : (x.shape.first ?? 1)
            default: value = x.form == .matrix ? x.shape[1] : x.form == .rowVector ? x.shape[0] : 1
            }
            return .scalar(.constant(Double(value)), isInteger: true)
        case "segment", "head", "tail":
            try arity(name == "segment" ? 3 : 2)
            let x = arguments[0]
            guard x.dimensions.count == 1 else { throw error("\(name) takes a vector or a one-dimensional array", at: at) }
            let n = x.count
            let (first, length): (Int, Int)
            if name == "segment" {
                (first, length) = (
                    try integerArgument(arguments[1], "segment's start", at: at) - 1, try integerArgument(arguments[2], "segment's length", at: at)
                )
            } else {
                let count = try integerArgument(arguments[1], "\(name)'s length", at: at)
                (first, length) = (name == "head" ? 0 : n - count, count)
            }
            guard first >= 0, length >= 0, first + length <= n else { throw error("\(name) reaches outside 1..\(n)", at: at) }
            var result = x
            if result.arrayDimensions.isEmpty { result.shape = [length] } else { result.arrayDimensions = [length] }
            result.storage = .elements(Array(try references(x)[first..<(first + length)]))
            return result
        case "append_row":
            try arity(2)
            var result = ModelValue(arrayDimensions: [], form: .vector, shape: [0], isInteger: false, storage: .elements([]))
            var output: [ModelReference] = []
            for x in arguments {
                guard x.isScalar || (x.form == .vector && x.arrayDimensions.isEmpty) else {
                    throw error("append_row joins vectors and numbers", at: at)
                }
                output.append(contentsOf: try references(x))
            }
            result.shape = [output.count]
            result.storage = .elements(output)
            return result
        case "cholesky_decompose":
            try arity(1)
            return try cholesky(arguments[0], at: at)
        case "mdivide_left_tri_low":
            try arity(2)
            let solution = try forwardSubstitution(arguments[0], try references(arguments[1]), at: at)
            return ModelValue(arrayDimensions: [], form: .vector, shape: [solution.count], isInteger: false, storage: .elements(solution))
        case "gp_exp_quad_cov":
            try arity(3)
            guard let x = try constantValues(arguments[0]), arguments[0].dimensions.count == 1 else {
                throw error("gp_exp_quad_cov's points must be a one-dimensional array from the data", at: at)
            }
            let n = x.count
            guard n * n <= ExpressionLimits.maxVectorLength else { throw error("gp_exp_quad_cov over \(n) points is too large", at: at) }
            let distances = ModelValue(
                arrayDimensions: [], form: .matrix, shape: [n, n], isInteger: false,
                storage: .elements((0..<(n * n)).map { .constant(-0.5 * (x[$0 / n] - x[$0 % n]) * (x[$0 / n] - x[$0 % n])) }))
            let alpha = arguments[1], rho = arguments[2]
            guard alpha.isScalar, rho.isScalar else { throw error("gp_exp_quad_cov's alpha and rho are numbers", at: at) }
            let scaled = try elementwise(.divide, distances, try elementwise(.multiply, rho, rho, at: at), at: at)
            return try elementwise(.multiply, try elementwise(.multiply, alpha, alpha, at: at), try unary(.exp, scaled, at: at), at: at)
        case "lchoose":
            try arity(2)
            let n = arguments[0], k = arguments[1]
            let one = ModelValue.scalar(.constant(1))
            let top = try unary(.lgamma, try elementwise(.add, n, one, at: at), at: at)
            let left = try unary(.lgamma, try elementwise(.add, k, one, at: at), at: at)
            let right = try unary(.lgamma, try elementwise(.add, try elementwise(.subtract, n, k, at: at), one, at: at), at: at)
            return try elementwise(.subtract, try elementwise(.subtract, top, left, at: at), right, at: at)
        default:
            throw error("unknown function \"\(name)\"; available: \(Self.functionNames.joined(separator: ", "))", at: at)
        }
    }

    private mutating func call(_ name: String, _ expressions: [ModelExpression], preEvaluated: [ModelValue], at: Int) throws(ExpressionError)
        -> ModelValue
    {
        // log_sum_exp over an evaluated vector (softmax's normalizer).
        let x = preEvaluated[0]
        if let numbers = try constantValues(x) {
            let largest = numbers.max() ?? -.infinity
            return .scalar(.constant(largest.isFinite ? largest + log(numbers.reduce(0) { $0 + exp($1 - largest) }) : largest))
        }
        let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
        tape.instructions.append(.logSumExpReduce(out: out, a: try materializeValue(x, at: at)))
        return .scalar(.element(slot: out, index: 0))
    }

    private func flat(_ value: ModelValue) -> ModelValue {
        ModelValue(arrayDimensions: [], form: .vector, shape: [value.count], isInteger: value.isInteger, storage: value.storage)
    }

    private mutating func integerArgument(_ value: ModelValue, _ what: String, at: Int) throws(ExpressionError) -> Int {
        guard value.isScalar, value.isInteger, let number = try constantValues(value)?.first, let result = Int(exactly: number),
            (-ExpressionLimits.maxVectorLength...ExpressionLimits.maxVectorLength).contains(result)
        else { throw error("\(what) must be an int from the data", at: at) }
        return result
    }

    /// Σ of a value's elements: one node for a vector on the tape, folded for constants.
    mutating func sumValue(_ value: ModelValue, at: Int) throws(ExpressionError) -> ModelReference {
        if case .slot(let slot) = value.storage, tape.slots[slot].active, value.count > 1 {
            let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
            tape.instructions.append(.sum(out: out, a: slot))
            return .element(slot: out, index: 0)
        }
        return try sum(try references(value), at: at)
    }

    // MARK: Densities

    /// `family_lpdf(outcome | arguments)` summed over broadcast elements: one tape node.
    mutating func density(_ family: String, outcome: ModelExpression, arguments expressions: [ModelExpression], at: Int) throws(ExpressionError)
        -> ModelValue
    {
        var values = [try evaluate(outcome)]
        for expression in expressions { values.append(try evaluate(expression)) }
        switch family {
        case "dirichlet": return try dirichlet(values, at: at)
        case "multi_normal_cholesky", "multi_normal": return try multiNormal(values, cholesky: family == "multi_normal_cholesky", at: at)
        default: break
        }
        guard let kind = DensityFamily(rawValue: family) else {
            let known = (DensityFamily.allCases.map(\.rawValue) + ["dirichlet", "multi_normal", "multi_normal_cholesky"]).sorted()
            throw error("unknown distribution \"\(family)\"; available: \(known.joined(separator: ", "))", at: at)
        }
        guard values.count == kind.arity else {
            throw error("\(family) takes \(kind.arity - 1) parameter\(kind.arity == 2 ? "" : "s") after the outcome, got \(values.count - 1)", at: at)
        }
        if kind.isDiscrete && !values[0].isInteger { throw error("\(family)'s outcome must be ints", at: outcome.offset) }
        var length = 1
        for (index, value) in values.enumerated() where value.count != 1 {
            if length != 1 && value.count != length {
                throw error(
                    "\(family)'s arguments differ in length (\(length) and \(value.count))",
                    at: index == 0 ? outcome.offset : expressions[index - 1].offset)
            }
            length = value.count
        }
        var allConstant: [[Double]] = []
        for value in values {
            guard let numbers = try constantValues(value) else { break }
            allConstant.append(numbers)
        }
        if allConstant.count == values.count {
            var total = 0.0
            for element in 0..<length {
                var a = SIMD4<Double>(repeating: 0)
                for k in 0..<values.count { a[k] = allConstant[k].count == 1 ? allConstant[k][0] : allConstant[k][element] }
                total += kind.term(a, partials: false).value
            }
            return .scalar(.constant(total))
        }
        var slots: [Int] = []
        for value in values {
            slots.append(value.count == 1 ? try tape.scalarSlot(try references(value)[0], source: sourceText) : try materializeValue(value, at: at))
        }
        let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
        tape.instructions.append(.density(kind, out: out, arguments: slots))
        return .scalar(.element(slot: out, index: 0))
    }

    private mutating func dirichlet(_ values: [ModelValue], at: Int) throws(ExpressionError) -> ModelValue {
        guard values.count == 2 else { throw error("dirichlet takes one parameter (alpha) after the outcome", at: at) }
        let theta = values[0], alpha = values[1]
        guard theta.count == alpha.count else { throw error("dirichlet's outcome and alpha differ in length", at: at) }
        let flatTheta = flat(theta), flatAlpha = flat(alpha)
        let normalizer = try scalar(.lgamma, try sumValue(flatAlpha, at: at), at: at)
        let gammas = try sumValue(try unary(.lgamma, flatAlpha, at: at), at: at)
        let weighted = try elementwise(
            .multiply, try elementwise(.subtract, flatAlpha, .scalar(.constant(1)), at: at), try unary(.log, flatTheta, at: at), at: at)
        return .scalar(try scalar(.add, try scalar(.subtract, normalizer, gammas, at: at), try sumValue(weighted, at: at), at: at))
    }

    /// log N(y | μ, LLᵀ) = −½‖L⁻¹(y − μ)‖² − Σ log Lᵢᵢ − (n/2) log 2π.
    private mutating func multiNormal(_ values: [ModelValue], cholesky isFactor: Bool, at: Int) throws(ExpressionError) -> ModelValue {
        guard values.count == 3 else {
            throw error("multi_normal takes a mean and a \(isFactor ? "Cholesky factor" : "covariance") after the outcome", at: at)
        }
        let y = values[0], mu = values[1]
        let factor = isFactor ? values[2] : try cholesky(values[2], at: at)
        guard factor.form == .matrix, factor.arrayDimensions.isEmpty, factor.shape[0] == factor.shape[1], factor.shape[0] == y.count else {
            throw error("multi_normal's matrix must be square with as many rows as the outcome has elements", at: at)
        }
        let n = y.count
        let residual = try references(try elementwise(.subtract, flat(y), mu.isScalar ? mu : flat(mu), at: at))
        let w = try forwardSubstitution(factor, residual, at: at)
        let squares = try sum(try w.map { (r) throws(ExpressionError) in try scalar(.multiply, r, r, at: at) }, at: at)
        let l = try references(factor)
        let logDiagonal = try sum(try (0..<n).map { (i) throws(ExpressionError) in try scalar(.log, l[i * n + i], at: at) }, at: at)
        let quadratic = try scalar(.multiply, squares, .constant(-0.5), at: at)
        let value = try scalar(
            .subtract, try scalar(.subtract, quadratic, logDiagonal, at: at), .constant(Double(n) * DensityFamily.halfLogTwoPi), at: at)
        return .scalar(value)
    }

    /// Solves L w = b for lower-triangular L, element by element (folded when L and b are data).
    private mutating func forwardSubstitution(_ factor: ModelValue, _ b: [ModelReference], at: Int) throws(ExpressionError) -> [ModelReference] {
        let n = b.count
        guard factor.form == .matrix, factor.shape == [n, n] else { throw error("the triangular matrix must be \(n) × \(n)", at: at) }
        let l = try references(factor)
        var w: [ModelReference] = []
        for i in 0..<n {
            var terms: [ModelReference] = [b[i]]
            for k in 0..<i { terms.append(try scalar(.negate, try scalar(.multiply, l[i * n + k], w[k], at: at), at: at)) }
            w.append(try scalar(.divide, try sum(terms, at: at), l[i * n + i], at: at))
            try stepWork(at)
        }
        return w
    }

    /// The lower Cholesky factor: one tape node when the matrix depends on parameters; folded for data,
    /// where a matrix that is not positive definite is an error before anything runs.
    private mutating func cholesky(_ matrix: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        guard matrix.form == .matrix, matrix.arrayDimensions.isEmpty, matrix.shape[0] == matrix.shape[1] else {
            throw error("cholesky_decompose takes a square matrix", at: at)
        }
        let n = matrix.shape[0]
        if try constantValues(matrix) == nil {
            // One node with its own reverse pass (instead of n³/6 scalar operations on the tape).
            let input = try materializeValue(matrix, at: at)
            let out = try tape.newSlot(length: n * n, isScalar: false, active: true, at: at, source: sourceText)
            tape.instructions.append(.cholesky(out: out, a: input, n: n))
            return ModelValue(arrayDimensions: [], form: .matrix, shape: [n, n], isInteger: false, storage: .slot(out))
        }
        let a = try references(matrix)
        var l = [ModelReference](repeating: .constant(0), count: n * n)
        for j in 0..<n {
            var diagonal: [ModelReference] = [a[j * n + j]]
            for k in 0..<j { diagonal.append(try scalar(.negate, try scalar(.multiply, l[j * n + k], l[j * n + k], at: at), at: at)) }
            let pivot = try sum(diagonal, at: at)
            if let value = pivot.constant, !(value > 0) {
                throw error("cholesky_decompose: the matrix is not positive definite (pivot \(j + 1) is \(value))", at: at)
            }
            l[j * n + j] = try scalar(.sqrt, pivot, at: at)
            for i in (j + 1)..<max(j + 1, n) {
                var terms: [ModelReference] = [a[i * n + j]]
                for k in 0..<j { terms.append(try scalar(.negate, try scalar(.multiply, l[i * n + k], l[j * n + k], at: at), at: at)) }
                l[i * n + j] = try scalar(.divide, try sum(terms, at: at), l[j * n + j], at: at)
            }
            try stepWork(at)
        }
        return ModelValue(arrayDimensions: [], form: .matrix, shape: [n, n], isInteger: false, storage: .elements(l))
    }
}
