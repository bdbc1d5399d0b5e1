import Foundation

/// A compiled model program: the log density of the unconstrained parameters (transforms and their
/// Jacobians included) as a straight-line `Program`, and what each draw reports.
public struct ModelProgram: Sendable {
    public let program: Program
    /// Unconstrained coordinates (a simplex of K has K − 1).
    public let dimension: Int
    /// Parameters then transformed parameters, Stan's way: `beta[1]`, `theta[2,1]`.
    public let outputNames: [String]
    /// The declared parameters and transformed parameters with their dimensions, in order.
    public let outputShapes: [(name: String, dimensions: [Int])]
}

/// Compiles a model program against its data. Everything that depends only on data (sizes, loop
/// bounds, indices, transformed data, conditions) is computed here; loops are unrolled, so the tape
/// holds only the arithmetic that depends on parameters. Work and size are bounded by `ModelLimits`
/// and `ExpressionLimits.maxWorkingValues`; every error carries its line and column.
public struct ModelCompiler {
    let sourceText: String
    private let data: [String: ModelData]
    var tape = TapeBuilder()
    private var scopes: [[String: Variable]] = [[:]]
    private var steps = 0
    private var targetTerms: [ModelReference] = []
    private var targetVectors: [Int] = []
    private var parameterCount = 0
    /// Parameters and top-level transformed parameters, by name, in order (their final values are read at the end).
    private var outputs: [String] = []
    private var block: ModelSyntax.Block = .data

    struct Variable {
        var value: ModelValue
        var block: ModelSyntax.Block
        var isLoopVariable = false
    }

    public static func compile(_ source: String, data: [String: ModelData]) throws(ExpressionError) -> ModelProgram {
        let syntax = try ModelParser.parse(source)
        var compiler = ModelCompiler(source: source, data: data)
        return try compiler.compile(syntax)
    }

    private init(source: String, data: [String: ModelData]) {
        self.sourceText = source
        self.data = data
    }

    func error(_ message: String, at offset: Int) -> ExpressionError { ExpressionError(message, at: offset, in: sourceText) }

    mutating func stepWork(_ offset: Int) throws(ExpressionError) {
        steps += 1
        if steps > ModelLimits.maxSteps {
            throw error("the program takes more than \(ModelLimits.maxSteps) steps to unroll (loops × statements); use vector operations", at: offset)
        }
        if tape.instructions.count > ModelLimits.maxInstructions {
            throw error("the program needs more than \(ModelLimits.maxInstructions) operations per evaluation; use vector operations", at: offset)
        }
    }

    private mutating func compile(_ syntax: ModelSyntax) throws(ExpressionError) -> ModelProgram {
        if let generated = syntax.blocks[.generatedQuantities], !generated.isEmpty {
            throw error("generated quantities blocks are not available yet; compute them from the draws (draws.npy)", at: 0)
        }
        for block in [ModelSyntax.Block.data, .transformedData, .parameters, .transformedParameters, .model] {
            self.block = block
            for statement in syntax.blocks[block] ?? [] { try execute(statement, topLevel: true) }
        }
        guard parameterCount > 0 else { throw error("the program declares no parameters to sample", at: 0) }
        // The log density: every target term and Jacobian, summed in one node.
        var terms = targetTerms
        for slot in targetVectors {
            let total = try tape.newSlot(length: 1, isScalar: true, active: true, at: 0, source: sourceText)
            tape.instructions.append(.sum(out: total, a: slot))
            terms.append(.element(slot: total, index: 0))
        }
        let result = try tape.scalarSlot(try sum(terms, at: 0), source: sourceText)
        var names: [String] = []
        var offsets: [Int] = []
        var shapes: [(String, [Int])] = []
        for name in outputs {
            guard let value = lookup(name)?.value else { continue }
            shapes.append((name, value.dimensions))
            names.append(contentsOf: Self.elementNames(name, value.dimensions))
            for reference in try references(value) { offsets.append(try tape.offset(of: reference, source: sourceText)) }
        }
        var program = Program(
            slots: tape.slots, instructions: tape.instructions, initialValues: tape.initialValues, result: result, parameterCount: parameterCount)
        program.outputs = offsets
        return ModelProgram(program: program, dimension: parameterCount, outputNames: names, outputShapes: shapes)
    }

    static func elementNames(_ name: String, _ dimensions: [Int]) -> [String] {
        guard !dimensions.isEmpty else { return [name] }
        var names: [String] = []
        var index = [Int](repeating: 1, count: dimensions.count)
        let total = dimensions.reduce(1, *)
        for _ in 0..<total {
            names.append("\(name)[\(index.map(String.init).joined(separator: ","))]")
            var axis = dimensions.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] <= dimensions[axis] { break }
                index[axis] = 1
                axis -= 1
            }
        }
        return names
    }

    // MARK: Variables

    private func lookup(_ name: String) -> Variable? {
        for scope in scopes.reversed() { if let variable = scope[name] { return variable } }
        return nil
    }

    private mutating func define(_ name: String, _ value: ModelValue, at offset: Int, isLoopVariable: Bool = false) throws(ExpressionError) {
        guard ModelValueNames.reserved.contains(name) == false else { throw error("\"\(name)\" is a reserved word", at: offset) }
        guard lookup(name) == nil else { throw error("\"\(name)\" is already declared", at: offset) }
        scopes[scopes.count - 1][name] = Variable(value: value, block: block, isLoopVariable: isLoopVariable)
    }

    private mutating func update(_ name: String, _ value: ModelValue) {
        for level in stride(from: scopes.count - 1, through: 0, by: -1) where scopes[level][name] != nil {
            scopes[level][name]!.value = value
            return
        }
    }

    // MARK: Statements

    private mutating func execute(_ statement: ModelStatement, topLevel: Bool = false) throws(ExpressionError) {
        switch statement {
        case .declare(let type, let name, let initial, let at):
            try stepWork(at)
            try declare(type, name, initial, at: at, topLevel: topLevel)
        case .assign(let name, let indices, let op, let expression, let at):
            try stepWork(at)
            try assign(name, indices, op, expression, at: at)
        case .tilde(let outcome, let distribution, let arguments, let at):
            try stepWork(at)
            guard block == .model else { throw error("~ statements belong in the model block", at: at) }
            let value = try density(distribution, outcome: outcome, arguments: arguments, at: at)
            try addToTarget(value, at: at)
        case .target(let expression, let at):
            try stepWork(at)
            guard block == .model else { throw error("target += belongs in the model block", at: at) }
            try addToTarget(try evaluate(expression), at: at)
        case .forLoop(let variable, let from, let to, let body, let at):
            try stepWork(at)
            let first = try integer(from, "the loop's start")
            let last = try integer(to, "the loop's end")
            if last >= first && last - first >= ModelLimits.maxSteps {
                throw error("the loop runs \(last - first + 1) times; at most \(ModelLimits.maxSteps) steps are allowed", at: at)
            }
            guard last >= first else { return }
            for index in first...last {
                scopes.append([:])
                try define(variable, .scalar(.constant(Double(index)), isInteger: true), at: at, isLoopVariable: true)
                try execute(body)
                scopes.removeLast()
            }
        case .ifElse(let condition, let then, let otherwise, let at):
            try stepWork(at)
            let value = try evaluate(condition)
            guard value.isScalar, let known = try references(value)[0].constant else {
                throw error("an if condition must not depend on parameters (use ? : for a value that does)", at: condition.offset)
            }
            scopes.append([:])
            if known != 0 {
                try execute(then)
            } else if let otherwise {
                try execute(otherwise)
            }
            scopes.removeLast()
        case .block(let statements):
            scopes.append([:])
            for statement in statements { try execute(statement) }
            scopes.removeLast()
        }
    }

    private mutating func declare(_ type: ModelType, _ name: String, _ initial: ModelExpression?, at: Int, topLevel: Bool) throws(ExpressionError) {
        let arrayDimensions = try type.arrayDimensions.map { (size) throws(ExpressionError) in try self.size(size) }
        let sizes = try type.sizes.map { (size) throws(ExpressionError) in try self.size(size) }
        var value: ModelValue
        switch type.base {
        case .int: value = ModelValue(arrayDimensions: arrayDimensions, form: .scalar, shape: [], isInteger: true, storage: .elements([]))
        case .real: value = ModelValue(arrayDimensions: arrayDimensions, form: .scalar, shape: [], isInteger: false, storage: .elements([]))
        case .vector, .simplex, .ordered, .positiveOrdered:
            value = ModelValue(arrayDimensions: arrayDimensions, form: .vector, shape: sizes, isInteger: false, storage: .elements([]))
        case .rowVector:
            value = ModelValue(arrayDimensions: arrayDimensions, form: .rowVector, shape: sizes, isInteger: false, storage: .elements([]))
        case .matrix: value = ModelValue(arrayDimensions: arrayDimensions, form: .matrix, shape: sizes, isInteger: false, storage: .elements([]))
        }
        guard value.count <= ExpressionLimits.maxVectorLength else {
            throw error("\(name) would have more than \(ExpressionLimits.maxVectorLength) elements", at: at)
        }
        // Every element is tracked while compiling: large declarations count against the step budget
        // (at most about 2,000,000 declared elements in all), so memory stays bounded.
        steps += value.count / 2
        try stepWork(at)
        switch block {
        case .data:
            guard topLevel, initial == nil else { throw error("data declarations take their values from the job's data", at: at) }
            value = try dataValue(name, type, value, at: at)
        case .parameters:
            guard topLevel, initial == nil else { throw error("parameters are declared without a value; the sampler gives them one", at: at) }
            value = try parameter(type, value, at: at)
            try define(name, value, at: at)
            outputs.append(name)
            return
        default:
            if type.base == .simplex || type.base == .ordered || type.base == .positiveOrdered, block != .transformedParameters {
                throw error("\(type.base.rawValue) is a parameter type; declare a vector here", at: at)
            }
            let filler: Double = type.base == .int ? 0 : .nan
            value.storage = .elements([ModelReference](repeating: .constant(filler), count: value.count))
            if let initial {
                value = try converted(try evaluate(initial), to: value, at: initial.offset)
            }
        }
        try define(name, value, at: at)
        if block == .transformedParameters && topLevel { outputs.append(name) }
    }

    private mutating func assign(_ name: String, _ indices: [[ModelExpression.IndexItem]], _ op: String, _ expression: ModelExpression, at: Int)
        throws(ExpressionError)
    {
        // The variable's type only: holding its elements here would make the update below copy them all,
        // and a loop assigning N elements one by one would cost N² (a freeze for N = 10⁶).
        guard let (isLoopVariable, declaredIn, type) = typeOf(name) else { throw error("unknown variable \"\(name)\"", at: at) }
        guard !isLoopVariable else { throw error("the loop variable \(name) cannot be assigned", at: at) }
        guard declaredIn == block else {
            throw error("\(name) is declared in the \(declaredIn.rawValue) block and cannot be changed in the \(block.rawValue) block", at: at)
        }
        let selection = try select(type, indices.flatMap { $0 }, at: at)
        var right = try evaluate(expression)
        var references = try takeReferences(name)
        var target = selection.result
        target.storage = .elements(selection.positions.map { references[$0] })
        if op != "=" {
            let binary: Program.BinaryOp = op == "+=" ? .add : op == "-=" ? .subtract : op == "*=" ? .multiply : .divide
            right = try elementwise(binary, target, right, at: at)
        }
        right = try converted(right, to: target, at: expression.offset)
        let assigned = try self.references(right)
        for (position, reference) in zip(selection.positions, assigned) { references[position] = reference }
        var value = type
        value.storage = .elements(references)
        update(name, value)
    }

    /// A variable's flags and type, without its elements.
    private func typeOf(_ name: String) -> (Bool, ModelSyntax.Block, ModelValue)? {
        guard let variable = lookup(name) else { return nil }
        var type = variable.value
        type.storage = .elements([])
        return (variable.isLoopVariable, variable.block, type)
    }

    /// A variable's elements, taken out of its scope (left empty until the caller stores them back), so
    /// that changing one element does not copy the others.
    private mutating func takeReferences(_ name: String) throws(ExpressionError) -> [ModelReference] {
        for level in stride(from: scopes.count - 1, through: 0, by: -1) {
            guard var variable = scopes[level][name] else { continue }
            scopes[level][name]!.value.storage = .elements([])
            if case .elements(let references) = variable.value.storage {
                variable.value.storage = .elements([])
                return references
            }
            return try references(variable.value)
        }
        return []
    }

    /// Checks an assigned value against the variable's type (same dimensions; no real into an int).
    private func converted(_ value: ModelValue, to target: ModelValue, at offset: Int) throws(ExpressionError) -> ModelValue {
        if target.isInteger && !value.isInteger { throw error("a real value cannot be assigned to an int", at: offset) }
        let sameShape = value.dimensions == target.dimensions || (value.count == target.count && value.count == 1)
        guard sameShape else { throw error("cannot assign \(value.typeDescription) to \(target.typeDescription)", at: offset) }
        var result = target
        result.storage = value.storage
        return result
    }

    private mutating func addToTarget(_ value: ModelValue, at: Int) throws(ExpressionError) {
        if case .slot(let slot) = value.storage, value.count > 1, tape.slots[slot].active {
            targetVectors.append(slot)
            return
        }
        targetTerms.append(contentsOf: try references(value))
    }

    // MARK: Data and parameters

    private mutating func dataValue(_ name: String, _ type: ModelType, _ declared: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        guard let given = data[name] else { throw error("the data \"\(name)\" is declared but not given in data", at: at) }
        guard given.values.count <= ExpressionLimits.maxWorkingValues else {
            throw error("the data \(name) has \(given.values.count) values; a model takes at most \(ExpressionLimits.maxWorkingValues)", at: at)
        }
        var dimensions = given.shape
        // A column of an uploaded dataset arrives as an N × 1 matrix.
        if dimensions.count == declared.dimensions.count + 1 && dimensions.last == 1 { dimensions.removeLast() }
        guard dimensions == declared.dimensions else {
            let got = given.shape.isEmpty ? "a number" : "an array of shape [\(given.shape.map(String.init).joined(separator: ", "))]"
            throw error("the data \(name) is declared as \(declared.typeDescription) but the given value is \(got)", at: at)
        }
        for (index, value) in given.values.enumerated() {
            if declared.isInteger && (value.rounded() != value || !value.isFinite) {
                throw error("the data \(name) is declared int but element \(index + 1) is \(value)", at: at)
            }
            if !declared.isInteger && value.isNaN { throw error("the data \(name) has a NaN at element \(index + 1)", at: at) }
        }
        var value = ModelValue.constant(given.values, like: declared)
        if let lower = type.lower {
            let bound = try constantNumber(lower, "a data bound")
            if let index = given.values.firstIndex(where: { $0 < bound }) {
                throw error("the data \(name) must be at least \(bound); element \(index + 1) is \(given.values[index])", at: at)
            }
        }
        if let upper = type.upper {
            let bound = try constantNumber(upper, "a data bound")
            if let index = given.values.firstIndex(where: { $0 > bound }) {
                throw error("the data \(name) must be at most \(bound); element \(index + 1) is \(given.values[index])", at: at)
            }
        }
        value.isInteger = declared.isInteger
        return value
    }

    /// Declares a parameter: its unconstrained coordinates on the tape, then the transform to its
    /// support with the log Jacobian added to the target (bounds may depend on earlier parameters).
    private mutating func parameter(_ type: ModelType, _ declared: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        guard type.base != .int else { throw error("parameters are real-valued; an int cannot be sampled", at: at) }
        let arrayCount = declared.arrayDimensions.reduce(1, *)
        let element = declared.shape.reduce(1, *)
        let free: Int
        switch type.base {
        case .simplex:
            guard element >= 1 else { throw error("a simplex needs at least one element", at: at) }
            free = element - 1
        default: free = element
        }
        let total = free * arrayCount
        guard parameterCount + total <= ModelLimits.maxParameters else {
            throw error("more than \(ModelLimits.maxParameters) unconstrained parameters", at: at)
        }
        var value = declared
        if total == 0 {
            value.storage = .elements([ModelReference](repeating: .constant(1), count: declared.count))
            return value
        }
        let raw = try tape.newSlot(length: total, isScalar: declared.isScalar, active: true, at: at, source: sourceText)
        tape.instructions.append(.parameter(out: raw, thetaOffset: parameterCount))
        parameterCount += total
        let unconstrained = ModelValue(arrayDimensions: [], form: .vector, shape: [total], isInteger: false, storage: .slot(raw))
        switch type.base {
        case .simplex, .ordered, .positiveOrdered:
            var references: [ModelReference] = []
            for block in 0..<arrayCount {
                let z = (0..<free).map { ModelReference.element(slot: raw, index: block * free + $0) }
                references.append(contentsOf: try transform(type.base, z, size: element, at: at))
            }
            value.storage = .elements(references)
            return value
        default:
            var constrained = unconstrained
            switch (type.lower, type.upper) {
            case (nil, nil): break
            case (let lower?, nil):
                let bound = try evaluate(lower)
                let positive = try unary(.exp, unconstrained, at: at)
                constrained = try elementwise(.add, bound, positive, at: at)
                try addToTarget(unconstrained, at: at)
            case (nil, let upper?):
                let bound = try evaluate(upper)
                let positive = try unary(.exp, unconstrained, at: at)
                constrained = try elementwise(.subtract, bound, positive, at: at)
                try addToTarget(unconstrained, at: at)
            case (let lower?, let upper?):
                let low = try evaluate(lower)
                let high = try evaluate(upper)
                let width = try elementwise(.subtract, high, low, at: at)
                let fraction = try unary(.logistic, unconstrained, at: at)
                constrained = try elementwise(.add, low, try elementwise(.multiply, width, fraction, at: at), at: at)
                try addToTarget(try unary(.logitJacobian, unconstrained, at: at), at: at)
                try addToTarget(try unary(.log, width, at: at), at: at)
            }
            value.storage = constrained.storage
            if constrained.count != value.count { throw error("the bound's length differs from the parameter's", at: at) }
            return value
        }
    }

    /// Stan's transforms for a simplex (stick-breaking), an ordered and a positive-ordered vector.
    private mutating func transform(_ base: ModelType.Base, _ z: [ModelReference], size: Int, at: Int) throws(ExpressionError) -> [ModelReference] {
        var output: [ModelReference] = []
        switch base {
        case .simplex:
            var stick = ModelReference.constant(1)
            for k in 0..<(size - 1) {
                let shifted = try scalar(.subtract, z[k], .constant(log(Double(size - 1 - k))), at: at)
                let fraction = try scalar(.logistic, shifted, at: at)
                let piece = try scalar(.multiply, stick, fraction, at: at)
                output.append(piece)
                // log|J| += log(stick) + log σ(a) + log(1 − σ(a)).
                targetTerms.append(try scalar(.log, stick, at: at))
                targetTerms.append(try scalar(.logitJacobian, shifted, at: at))
                stick = try scalar(.subtract, stick, piece, at: at)
            }
            output.append(stick)
        case .ordered, .positiveOrdered:
            for k in 0..<z.count {
                if k == 0 {
                    output.append(base == .ordered ? z[0] : try scalar(.exp, z[0], at: at))
                    if base == .positiveOrdered { targetTerms.append(z[0]) }
                } else {
                    output.append(try scalar(.add, output[k - 1], try scalar(.exp, z[k], at: at), at: at))
                    targetTerms.append(z[k])
                }
            }
        default: break
        }
        return output
    }

    // MARK: Constants known while compiling

    private mutating func integer(_ expression: ModelExpression, _ what: String) throws(ExpressionError) -> Int {
        let value = try evaluate(expression)
        guard value.isScalar, value.isInteger, let number = try references(value)[0].constant else {
            throw error("\(what) must be an int known from the data", at: expression.offset)
        }
        guard let result = Int(exactly: number), (-ExpressionLimits.maxVectorLength * 100...ExpressionLimits.maxVectorLength * 100).contains(result)
        else {
            throw error("\(what) is out of range (\(number))", at: expression.offset)
        }
        return result
    }

    private mutating func size(_ expression: ModelExpression) throws(ExpressionError) -> Int {
        let size = try integer(expression, "a size")
        guard size >= 0, size <= ExpressionLimits.maxVectorLength else {
            throw error("a size must be between 0 and \(ExpressionLimits.maxVectorLength), got \(size)", at: expression.offset)
        }
        return size
    }

    private mutating func constantNumber(_ expression: ModelExpression, _ what: String) throws(ExpressionError) -> Double {
        let value = try evaluate(expression)
        guard value.isScalar, let number = try references(value)[0].constant else {
            throw error("\(what) must be a number known from the data", at: expression.offset)
        }
        return number
    }

    // MARK: References and slots

    // Mutating although they only read: `self.references(self.elementwise(…))` would otherwise read a copy of
    // the tape taken before the argument added its slot.
    mutating func references(_ value: ModelValue) throws(ExpressionError) -> [ModelReference] {
        switch value.storage {
        case .elements(let references): return references
        case .slot(let slot):
            let s = tape.slots[slot]
            if !s.active { return (0..<s.length).map { .constant(tape.initialValues[s.offset + $0]) } }
            return (0..<s.length).map { .element(slot: slot, index: $0) }
        }
    }

    mutating func constantValues(_ value: ModelValue) throws(ExpressionError) -> [Double]? {
        if case .slot(let slot) = value.storage, tape.slots[slot].active { return nil }
        var result: [Double] = []
        for reference in try references(value) {
            guard let number = reference.constant else { return nil }
            result.append(number)
        }
        return result
    }

    /// The value as one contiguous slot, for a vector instruction.
    mutating func materializeValue(_ value: ModelValue, at: Int) throws(ExpressionError) -> Int {
        if case .slot(let slot) = value.storage {
            // A number must sit in a scalar slot, which vector instructions broadcast.
            if value.isScalar && !tape.slots[slot].isScalar { return try tape.scalarSlot(.element(slot: slot, index: 0), source: sourceText) }
            return slot
        }
        let references = try self.references(value)
        if let numbers = try constantValues(value) { return try tape.constantSlot(numbers, isScalar: value.isScalar, at: at, source: sourceText) }
        if value.isScalar { return try tape.scalarSlot(references[0], source: sourceText) }
        // Elements that already lie in order in one slot need no copy.
        if case .element(let first, 0) = references[0], tape.slots[first].length == references.count,
            references.enumerated().allSatisfy({ index, reference in
                if case .element(first, index) = reference { return true }
                return false
            })
        {
            return first
        }
        let out = try tape.newSlot(length: references.count, isScalar: false, active: true, at: at, source: sourceText)
        var offsets: [Int] = []
        offsets.reserveCapacity(references.count)
        for reference in references { offsets.append(try tape.offset(of: reference, source: sourceText)) }
        tape.instructions.append(.pack(out: out, offsets: offsets))
        return out
    }

    private mutating func isActive(_ value: ModelValue) throws(ExpressionError) -> Bool { try constantValues(value) == nil }

    // MARK: Arithmetic

    mutating func scalar(_ op: Program.BinaryOp, _ a: ModelReference, _ b: ModelReference, at: Int) throws(ExpressionError) -> ModelReference {
        if let x = a.constant, let y = b.constant { return .constant(Evaluator.apply(op, x, y)) }
        let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
        tape.instructions.append(.binary(op, out: out, a: try tape.scalarSlot(a, source: sourceText), b: try tape.scalarSlot(b, source: sourceText)))
        return .element(slot: out, index: 0)
    }

    mutating func scalar(_ op: Program.UnaryOp, _ a: ModelReference, at: Int) throws(ExpressionError) -> ModelReference {
        if let x = a.constant { return .constant(Evaluator.apply(op, x)) }
        let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
        tape.instructions.append(.unary(op, out: out, a: try tape.scalarSlot(a, source: sourceText)))
        return .element(slot: out, index: 0)
    }

    mutating func sum(_ references: [ModelReference], at: Int) throws(ExpressionError) -> ModelReference {
        var constant = 0.0
        var active: [ModelReference] = []
        for reference in references {
            if let number = reference.constant { constant += number } else { active.append(reference) }
        }
        if active.isEmpty { return .constant(constant) }
        var total: ModelReference
        if active.count == 1 {
            total = active[0]
        } else {
            let packed = try tape.newSlot(length: active.count, isScalar: false, active: true, at: at, source: sourceText)
            var offsets: [Int] = []
            for reference in active { offsets.append(try tape.offset(of: reference, source: sourceText)) }
            tape.instructions.append(.pack(out: packed, offsets: offsets))
            let out = try tape.newSlot(length: 1, isScalar: true, active: true, at: at, source: sourceText)
            tape.instructions.append(.sum(out: out, a: packed))
            total = .element(slot: out, index: 0)
        }
        return constant == 0 ? total : try scalar(.add, total, .constant(constant), at: at)
    }

    /// The result type of combining two values element by element (a scalar broadcasts).
    private func broadcast(_ a: ModelValue, _ b: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        if a.isScalar { return b }
        if b.isScalar { return a }
        guard a.dimensions == b.dimensions || (a.count == b.count && a.arrayDimensions.count + b.arrayDimensions.count > 0) else {
            throw error("the operands' shapes differ: \(a.typeDescription) and \(b.typeDescription)", at: at)
        }
        return a
    }

    mutating func elementwise(_ op: Program.BinaryOp, _ a: ModelValue, _ b: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        var type = try broadcast(a, b, at: at)
        let comparison: Set<Program.BinaryOp> = [.less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .and, .or]
        type.isInteger = comparison.contains(op) || (a.isInteger && b.isInteger && op != .divide && op != .power && op != .logSumExp)
        if let x = try constantValues(a), let y = try constantValues(b) {
            if a.isInteger && b.isInteger && op == .divide {
                // Stan's int / int truncates.
                guard x.count == 1 || y.count == 1 || x.count == y.count, !y.contains(0) else { throw error("integer division by zero", at: at) }
                type.isInteger = true
                return .constant(Self.combine(x, y) { ($0 / $1).rounded(.towardZero) }, like: type)
            }
            return .constant(Self.combine(x, y) { Evaluator.apply(op, $0, $1) }, like: type)
        }
        if type.count == 1 {
            type.storage = .elements([try scalar(op, try references(a)[0], try references(b)[0], at: at)])
            return type
        }
        let left = try materializeValue(a, at: at), right = try materializeValue(b, at: at)
        let out = try tape.newSlot(length: type.count, isScalar: false, active: true, at: at, source: sourceText)
        tape.instructions.append(.binary(op, out: out, a: left, b: right))
        type.storage = .slot(out)
        return type
    }

    private static func combine(_ x: [Double], _ y: [Double], _ f: (Double, Double) -> Double) -> [Double] {
        if x.count == 1 { return y.map { f(x[0], $0) } }
        if y.count == 1 { return x.map { f($0, y[0]) } }
        return zip(x, y).map(f)
    }

    mutating func unary(_ op: Program.UnaryOp, _ a: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        var type = a
        type.isInteger = a.isInteger && (op == .negate || op == .abs || op == .not)
        if let x = try constantValues(a) { return .constant(x.map { Evaluator.apply(op, $0) }, like: type) }
        if a.count == 1 {
            type.storage = .elements([try scalar(op, try references(a)[0], at: at)])
            return type
        }
        let input = try materializeValue(a, at: at)
        let out = try tape.newSlot(length: a.count, isScalar: false, active: true, at: at, source: sourceText)
        tape.instructions.append(.unary(op, out: out, a: input))
        type.storage = .slot(out)
        return type
    }

    mutating func select(_ condition: ModelValue, _ a: ModelValue, _ b: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        var type = try broadcast(condition, try broadcast(a, b, at: at), at: at)
        type.isInteger = a.isInteger && b.isInteger
        let c = try materializeValue(condition, at: at), x = try materializeValue(a, at: at), y = try materializeValue(b, at: at)
        let out = try tape.newSlot(length: type.count, isScalar: type.count == 1 && type.isScalar, active: true, at: at, source: sourceText)
        tape.instructions.append(.select(out: out, condition: c, a: x, b: y))
        type.storage = .slot(out)
        return type
    }

    mutating func matrixVector(_ m: ModelValue, _ x: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        let rows = m.shape[0], columns = m.shape[1]
        guard x.count == columns else { throw error("cannot multiply \(m.typeDescription) by \(x.typeDescription)", at: at) }
        let type = ModelValue(arrayDimensions: [], form: .vector, shape: [rows], isInteger: false, storage: .elements([]))
        if let a = try constantValues(m), let b = try constantValues(x) {
            return .constant((0..<rows).map { row in (0..<columns).reduce(0.0) { $0 + a[row * columns + $1] * b[$1] } }, like: type)
        }
        let matrix = try materializeValue(m, at: at), vector = try materializeValue(x, at: at)
        let out = try tape.newSlot(length: rows, isScalar: false, active: true, at: at, source: sourceText)
        tape.instructions.append(.matrixVector(out: out, matrix: matrix, vector: vector, rows: rows, columns: columns))
        var result = type
        result.storage = .slot(out)
        return result
    }

    // MARK: Indexing

    struct Selection {
        var positions: [Int]
        var result: ModelValue
    }

    /// Which elements `value[items]` names, and the type of the result.
    private mutating func select(_ value: ModelValue, _ items: [ModelExpression.IndexItem], at: Int) throws(ExpressionError) -> Selection {
        let dimensions = value.dimensions
        guard items.count <= dimensions.count else {
            throw error("\(items.count) indices for \(value.typeDescription), which has \(dimensions.count)", at: at)
        }
        var chosen: [[Int]] = []
        var kept: [Bool] = []
        for (axis, size) in dimensions.enumerated() {
            guard axis < items.count else {
                chosen.append(Array(0..<size))
                kept.append(true)
                continue
            }
            switch items[axis] {
            case .single(let expression):
                let index = try evaluate(expression)
                guard let numbers = try constantValues(index), index.isInteger else {
                    throw error("an index must be an int (or an int array) known from the data, not a parameter", at: expression.offset)
                }
                for number in numbers where number < 1 || number > Double(size) {
                    throw error("index \(Int(exactly: number).map(String.init) ?? "\(number)") is out of range 1..\(size)", at: expression.offset)
                }
                chosen.append(numbers.map { Int($0) - 1 })
                kept.append(!index.isScalar)
            case .range(let low, let high):
                let first = try low.map { (e) throws(ExpressionError) in try integer(e, "a range's start") } ?? 1
                let last = try high.map { (e) throws(ExpressionError) in try integer(e, "a range's end") } ?? size
                guard first >= 1, last <= size else { throw error("range \(first):\(last) is out of range 1..\(size)", at: at) }
                chosen.append(last >= first ? Array((first - 1)..<last) : [])
                kept.append(true)
            }
        }
        guard let selected = ModelValue.product(chosen.map(\.count)), selected <= ExpressionLimits.maxVectorLength else {
            throw error("the index selects more than \(ExpressionLimits.maxVectorLength) values", at: at)
        }
        steps += selected / 64
        var strides = [Int](repeating: 1, count: dimensions.count)
        for axis in stride(from: dimensions.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * dimensions[axis + 1] }
        var positions: [Int] = [0]
        for axis in 0..<dimensions.count {
            var next: [Int] = []
            next.reserveCapacity(positions.count * chosen[axis].count)
            for base in positions { for index in chosen[axis] { next.append(base + index * strides[axis]) } }
            positions = next
            try stepWork(at)
        }
        // The result's type: kept array axes stay arrays; a matrix with its row fixed is a row vector.
        let arrayAxes = value.arrayDimensions.count
        var result = value
        result.arrayDimensions = (0..<arrayAxes).filter { kept[$0] }.map { chosen[$0].count }
        let shapeKept = (arrayAxes..<dimensions.count).map { kept[$0] }
        let shapeSizes = (arrayAxes..<dimensions.count).map { chosen[$0].count }
        switch value.form {
        case .scalar: break
        case .vector, .rowVector:
            if !shapeKept[0] { result.form = .scalar }
            result.shape = shapeKept[0] ? shapeSizes : []
        case .matrix:
            switch (shapeKept[0], shapeKept[1]) {
            case (true, true): result.shape = shapeSizes
            case (false, true): (result.form, result.shape) = (.rowVector, [shapeSizes[1]])
            case (true, false): (result.form, result.shape) = (.vector, [shapeSizes[0]])
            case (false, false): (result.form, result.shape) = (.scalar, [])
            }
        }
        return Selection(positions: positions, result: result)
    }

    private mutating func gather(_ value: ModelValue, _ selection: Selection) throws(ExpressionError) -> ModelValue {
        var result = selection.result
        if case .slot(let slot) = value.storage, let first = selection.positions.first, selection.positions.count == tape.slots[slot].length,
            first == 0, selection.positions.enumerated().allSatisfy({ $0 == $1 })
        {
            result.storage = .slot(slot)
            return result
        }
        // Only the selected elements: `mu[n]` in a loop over n must not list all of mu each time (N²).
        if case .slot(let slot) = value.storage {
            let s = tape.slots[slot]
            result.storage = .elements(
                selection.positions.map { s.active ? .element(slot: slot, index: $0) : .constant(tape.initialValues[s.offset + $0]) })
            return result
        }
        let references = try self.references(value)
        result.storage = .elements(selection.positions.map { references[$0] })
        return result
    }

    // MARK: Expressions

    mutating func evaluate(_ expression: ModelExpression) throws(ExpressionError) -> ModelValue {
        try stepWork(expression.offset)
        switch expression {
        case .number(let value, let isInteger, _):
            return .scalar(.constant(value), isInteger: isInteger)
        case .name(let name, let at):
            if let variable = lookup(name) { return variable.value }
            if let constant = ExpressionCompiler.constants[name], name != "e" {
                return .scalar(.constant(constant))
            }
            throw error("unknown name \"\(name)\"" + (data[name] != nil ? " (it is in data but not declared in the data block)" : ""), at: at)
        case .unary(let op, let operand, let at):
            let value = try evaluate(operand)
            return try unary(op == "-" ? .negate : .not, value, at: at)
        case .binary(let op, let left, let right, let at):
            let a = try evaluate(left), b = try evaluate(right)
            switch op {
            case "*": return try multiply(a, b, at: at)
            case "/" where !b.isScalar && a.form != .scalar && !a.isScalar:
                throw error("use ./ to divide element by element", at: at)
            default: break
            }
            let map: [String: Program.BinaryOp] = [
                "+": .add, "-": .subtract, ".*": .multiply, "/": .divide, "./": .divide, "^": .power, "<": .less, "<=": .lessEqual,
                ">": .greater, ">=": .greaterEqual, "==": .equal, "!=": .notEqual, "&&": .and, "||": .or,
            ]
            guard let binary = map[op] else { throw error("unknown operator \(op)", at: at) }
            return try elementwise(binary, a, b, at: at)
        case .conditional(let condition, let whenTrue, let whenFalse, let at):
            let c = try evaluate(condition)
            if c.isScalar, let known = try references(c)[0].constant { return try evaluate(known != 0 ? whenTrue : whenFalse) }
            return try select(c, try evaluate(whenTrue), try evaluate(whenFalse), at: at)
        case .index(let base, let items, let at):
            let value = try evaluate(base)
            return try gather(value, try select(value, items, at: at))
        case .transpose(let base, let at):
            return try transposed(try evaluate(base), at: at)
        case .call(let name, let arguments, let at):
            return try call(name, arguments, at: at)
        }
    }

    private mutating func multiply(_ a: ModelValue, _ b: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        if a.isScalar || b.isScalar { return try elementwise(.multiply, a, b, at: at) }
        guard a.arrayDimensions.isEmpty && b.arrayDimensions.isEmpty else { throw error("arrays cannot be multiplied; use vectors", at: at) }
        switch (a.form, b.form) {
        case (.matrix, .vector): return try matrixVector(a, b, at: at)
        case (.rowVector, .vector):
            guard a.count == b.count else { throw error("cannot multiply \(a.typeDescription) by \(b.typeDescription)", at: at) }
            return .scalar(try sum(try references(try elementwise(.multiply, a, retyped(b, like: a), at: at)), at: at))
        case (.rowVector, .matrix):
            // x' M = (M' x)'.
            var result = try matrixVector(try transposed(b, at: at), try transposed(a, at: at), at: at)
            result.form = .rowVector
            return result
        default:
            throw error("cannot multiply \(a.typeDescription) by \(b.typeDescription) (use .* for element by element)", at: at)
        }
    }

    private func retyped(_ value: ModelValue, like type: ModelValue) -> ModelValue {
        var result = type
        result.storage = value.storage
        result.isInteger = value.isInteger
        return result
    }

    mutating func transposed(_ value: ModelValue, at: Int) throws(ExpressionError) -> ModelValue {
        guard value.arrayDimensions.isEmpty else { throw error("arrays cannot be transposed", at: at) }
        var result = value
        switch value.form {
        case .scalar: return value
        case .vector: result.form = .rowVector
        case .rowVector: result.form = .vector
        case .matrix:
            let rows = value.shape[0], columns = value.shape[1]
            let references = try self.references(value)
            result.shape = [columns, rows]
            result.storage = .elements((0..<(rows * columns)).map { references[($0 % rows) * columns + $0 / rows] })
        }
        return result
    }
}

enum ModelValueNames {
    static let reserved: Set<String> = [
        "for", "in", "while", "if", "else", "target", "int", "real", "vector", "row_vector", "matrix", "array", "simplex", "ordered",
        "positive_ordered", "lower", "upper", "data", "parameters", "model",
    ]
}

/// The tape under construction: slots, instructions and the initial value buffer, with views so
/// that an element of a vector is read in place.
struct TapeBuilder {
    var slots: [Program.Slot] = []
    var instructions: [Program.Instruction] = []
    var initialValues: [Double] = []
    private var constantCache: [UInt64: Int] = [:]
    private var viewCache: [Int: [Int: Int]] = [:]

    mutating func newSlot(length: Int, isScalar: Bool, active: Bool, at offset: Int, source: String) throws(ExpressionError) -> Int {
        guard initialValues.count + length <= ExpressionLimits.maxWorkingValues else {
            throw ExpressionError(
                "the program over this data needs more than \(ExpressionLimits.maxWorkingValues) working values; use less data or fewer intermediate vectors",
                at: offset, in: source)
        }
        slots.append(Program.Slot(offset: initialValues.count, length: length, isScalar: isScalar, active: active))
        initialValues.append(contentsOf: repeatElement(0, count: length))
        return slots.count - 1
    }

    mutating func constantSlot(_ values: [Double], isScalar: Bool, at offset: Int, source: String) throws(ExpressionError) -> Int {
        if values.count == 1 && isScalar, let slot = constantCache[values[0].bitPattern] { return slot }
        let slot = try newSlot(length: values.count, isScalar: isScalar, active: false, at: offset, source: source)
        initialValues.replaceSubrange(slots[slot].offset..<(slots[slot].offset + values.count), with: values)
        if values.count == 1 && isScalar { constantCache[values[0].bitPattern] = slot }
        return slot
    }

    /// A scalar slot holding the reference: a cached constant, the slot itself, or a view of one element.
    mutating func scalarSlot(_ reference: ModelReference, source: String) throws(ExpressionError) -> Int {
        switch reference {
        case .constant(let value): return try constantSlot([value], isScalar: true, at: 0, source: source)
        case .element(let slot, let index):
            if slots[slot].isScalar { return slot }
            if let view = viewCache[slot]?[index] { return view }
            let parent = slots[slot]
            slots.append(Program.Slot(offset: parent.offset + index, length: 1, isScalar: true, active: parent.active))
            viewCache[slot, default: [:]][index] = slots.count - 1
            return slots.count - 1
        }
    }

    mutating func offset(of reference: ModelReference, source: String) throws(ExpressionError) -> Int {
        switch reference {
        case .constant: return slots[try scalarSlot(reference, source: source)].offset
        case .element(let slot, let index): return slots[slot].offset + index
        }
    }
}
