/// The syntax of model programs: a subset of Stan that a Stan user reads at once (blocks, typed
/// declarations with constraints, `for` loops over ranges, `~` and `target +=`), parsed into a tree
/// that `ModelCompiler` unrolls into a straight-line `Program`. Nothing here runs code or touches I/O.
indirect enum ModelExpression {
    case number(Double, isInteger: Bool, at: Int)
    case name(String, at: Int)
    case unary(String, ModelExpression, at: Int)
    case binary(String, ModelExpression, ModelExpression, at: Int)
    case call(String, [ModelExpression], at: Int)
    case index(ModelExpression, [IndexItem], at: Int)
    case transpose(ModelExpression, at: Int)
    case conditional(ModelExpression, ModelExpression, ModelExpression, at: Int)

    enum IndexItem {
        case single(ModelExpression)
        /// `:` alone, `a:`, `:b` or `a:b` (inclusive, 1-based).
        case range(ModelExpression?, ModelExpression?)
    }

    var offset: Int {
        switch self {
        case .number(_, _, let at), .name(_, let at), .unary(_, _, let at), .binary(_, _, _, let at), .call(_, _, let at),
            .index(_, _, let at), .transpose(_, let at), .conditional(_, _, _, let at):
            return at
        }
    }
}

struct ModelType {
    enum Base: String {
        case int, real, vector
        case rowVector = "row_vector"
        case matrix, simplex, ordered
        case positiveOrdered = "positive_ordered"
    }
    var base: Base
    /// vector/simplex/ordered: [n]; row_vector: [n]; matrix: [rows, columns].
    var sizes: [ModelExpression]
    /// `array[d1, d2, …]` around the base type.
    var arrayDimensions: [ModelExpression]
    var lower: ModelExpression?
    var upper: ModelExpression?
    var offset: Int
}

indirect enum ModelStatement {
    case declare(ModelType, String, ModelExpression?, at: Int)
    /// `name[i][j, k] op= value`; op is `=`, `+=`, `-=`, `*=` or `/=`.
    case assign(String, [[ModelExpression.IndexItem]], String, ModelExpression, at: Int)
    case tilde(ModelExpression, String, [ModelExpression], at: Int)
    case target(ModelExpression, at: Int)
    case forLoop(String, ModelExpression, ModelExpression, ModelStatement, at: Int)
    case ifElse(ModelExpression, ModelStatement, ModelStatement?, at: Int)
    case block([ModelStatement])
}

struct ModelSyntax {
    enum Block: String, CaseIterable {
        case data
        case transformedData = "transformed data"
        case parameters
        case transformedParameters = "transformed parameters"
        case model
        case generatedQuantities = "generated quantities"
    }
    var blocks: [Block: [ModelStatement]] = [:]
}

/// Recursive-descent parser for model programs; positions are character offsets for `ExpressionError`.
struct ModelParser {
    private var cursor: TokenCursor
    private var depth = 0
    private var nodes = 0

    static func parse(_ source: String) throws(ExpressionError) -> ModelSyntax {
        var parser = ModelParser(source: source, tokens: try Lexer.tokenize(source, symbols: Lexer.programSymbols, program: true))
        return try parser.program()
    }

    private init(source: String, tokens: [Token]) {
        cursor = TokenCursor(source: source, tokens: tokens, endDescription: "the end of the program")
    }

    private func isSymbol(_ symbol: String) -> Bool {
        if case .symbol(symbol) = cursor.current.kind { return true }
        return false
    }

    private func isWord(_ word: String) -> Bool {
        if case .identifier(word) = cursor.current.kind { return true }
        return false
    }

    private mutating func acceptWord(_ word: String) -> Bool {
        guard isWord(word) else { return false }
        cursor.position += 1
        return true
    }

    private mutating func identifier(_ context: String) throws(ExpressionError) -> String {
        guard case .identifier(let name) = cursor.current.kind else {
            throw cursor.error("expected a name \(context), found \(cursor.describe(cursor.current))")
        }
        cursor.position += 1
        return name
    }

    private mutating func enter() throws(ExpressionError) {
        depth += 1
        nodes += 1
        if depth > ExpressionLimits.maxDepth * 12 { throw cursor.error("the program nests deeper than \(ExpressionLimits.maxDepth) levels") }
        if nodes > ExpressionLimits.maxNodes * 4 { throw cursor.error("the program has more than \(ExpressionLimits.maxNodes * 4) parts") }
    }

    // MARK: Blocks and statements

    private mutating func program() throws(ExpressionError) -> ModelSyntax {
        var syntax = ModelSyntax()
        var last = -1
        while !(cursor.current.kind == .end) {
            let start = cursor.current.offset
            let first = try identifier("to begin a block (data, transformed data, parameters, transformed parameters, model)")
            var name = first
            if first == "transformed" || first == "generated" { name += " " + (try identifier("after \"\(first)\"")) }
            guard let block = ModelSyntax.Block(rawValue: name) else {
                throw cursor.error(
                    "unknown block \"\(name)\"; blocks are \(ModelSyntax.Block.allCases.map(\.rawValue).joined(separator: ", "))", at: start)
            }
            let order = ModelSyntax.Block.allCases.firstIndex(of: block)!
            guard order > last else { throw cursor.error("the \(name) block is repeated or out of order", at: start) }
            last = order
            try cursor.expect("{", "to open the \(name) block")
            var statements: [ModelStatement] = []
            while !cursor.accept("}") {
                guard cursor.current.kind != .end else { throw cursor.error("the \(name) block is never closed with \"}\"") }
                statements.append(try statement())
            }
            syntax.blocks[block] = statements
        }
        return syntax
    }

    private static let typeWords: Set<String> = ["int", "real", "vector", "row_vector", "matrix", "simplex", "ordered", "positive_ordered", "array"]

    private mutating func statement() throws(ExpressionError) -> ModelStatement {
        try enter()
        defer { depth -= 1 }
        let start = cursor.current.offset
        if cursor.accept("{") {
            var statements: [ModelStatement] = []
            while !cursor.accept("}") {
                guard cursor.current.kind != .end else { throw cursor.error("a \"{\" is never closed", at: start) }
                statements.append(try statement())
            }
            return .block(statements)
        }
        if cursor.accept(";") { return .block([]) }
        if case .identifier(let word) = cursor.current.kind {
            if Self.typeWords.contains(word) {
                let type = try self.type()
                let name = try identifier("for the declared variable")
                var initial: ModelExpression?
                if cursor.accept("=") { initial = try expression() }
                try cursor.expect(";", "after the declaration of \(name)")
                return .declare(type, name, initial, at: start)
            }
            switch word {
            case "for":
                cursor.position += 1
                try cursor.expect("(", "after for")
                let variable = try identifier("for the loop variable")
                guard acceptWord("in") else {
                    throw cursor.error("expected \"in\" after the loop variable, found \(cursor.describe(cursor.current))")
                }
                let from = try expression()
                try cursor.expect(":", "between the loop's bounds (for (i in 1:N))")
                let to = try expression()
                try cursor.expect(")", "to close the for loop's range")
                return .forLoop(variable, from, to, try statement(), at: start)
            case "if":
                cursor.position += 1
                try cursor.expect("(", "after if")
                let condition = try expression()
                try cursor.expect(")", "to close the if condition")
                let then = try statement()
                return .ifElse(condition, then, acceptWord("else") ? try statement() : nil, at: start)
            case "while":
                throw cursor.error("while loops are not available (their work has no bound); use a for loop over a range")
            case "target":
                cursor.position += 1
                try cursor.expect("+=", "after target")
                let value = try expression()
                try cursor.expect(";", "after the target += statement")
                return .target(value, at: start)
            default: break
            }
        }
        let left = try expression()
        if cursor.accept("~") {
            let distribution = try identifier("naming a distribution after \"~\"")
            try cursor.expect("(", "after the distribution's name")
            var arguments: [ModelExpression] = []
            if !cursor.accept(")") {
                repeat { arguments.append(try expression()) } while cursor.accept(",")
                try cursor.expect(")", "to close the distribution's arguments")
            }
            if isWord("T") { throw cursor.error("truncation (T[,]) is not available") }
            try cursor.expect(";", "after the ~ statement")
            return .tilde(left, distribution, arguments, at: start)
        }
        for op in ["=", "+=", "-=", "*=", "/="] where cursor.accept(op) {
            var indices: [[ModelExpression.IndexItem]] = []
            var target = left
            while case .index(let inner, let items, _) = target {
                indices.insert(items, at: 0)
                target = inner
            }
            guard case .name(let name, _) = target else { throw cursor.error("only a variable or its elements can be assigned to", at: start) }
            let value = try expression()
            try cursor.expect(";", "after the assignment")
            return .assign(name, indices, op, value, at: start)
        }
        throw cursor.error("expected \"=\", \"~\" or \";\" after an expression, found \(cursor.describe(cursor.current))")
    }

    private mutating func type() throws(ExpressionError) -> ModelType {
        let start = cursor.current.offset
        var dimensions: [ModelExpression] = []
        if acceptWord("array") {
            try cursor.expect("[", "after array")
            repeat { dimensions.append(try expression()) } while cursor.accept(",")
            try cursor.expect("]", "to close the array's dimensions")
        }
        let word = try identifier("for a type")
        guard let base = ModelType.Base(rawValue: word) else {
            throw cursor.error(
                "unknown type \"\(word)\"; types are int, real, vector, row_vector, matrix, simplex, ordered, positive_ordered", at: start)
        }
        var lower: ModelExpression?
        var upper: ModelExpression?
        if cursor.accept("<") {
            repeat {
                let which = try identifier("(lower or upper) in the constraint")
                try cursor.expect("=", "after \(which)")
                // A bound stops before ">" and ",": it is an additive expression, as in Stan.
                let bound = try binary(level: 3)
                switch which {
                case "lower": lower = bound
                case "upper": upper = bound
                default: throw cursor.error("unknown constraint \"\(which)\"; use lower= and upper=")
                }
            } while cursor.accept(",")
            try cursor.expect(">", "to close the constraint")
        }
        var sizes: [ModelExpression] = []
        if base != .int && base != .real {
            try cursor.expect("[", "after \(word) for its size")
            repeat { sizes.append(try expression()) } while cursor.accept(",")
            try cursor.expect("]", "to close \(word)'s size")
            let wanted = base == .matrix ? 2 : 1
            guard sizes.count == wanted else {
                throw cursor.error("\(word) takes \(wanted) size\(wanted == 1 ? "" : "s"), got \(sizes.count)", at: start)
            }
        }
        if (base == .simplex || base == .ordered || base == .positiveOrdered) && (lower != nil || upper != nil) {
            throw cursor.error("\(word) takes no lower or upper bound", at: start)
        }
        return ModelType(base: base, sizes: sizes, arrayDimensions: dimensions, lower: lower, upper: upper, offset: start)
    }
}

extension ModelParser {
    fileprivate mutating func expression() throws(ExpressionError) -> ModelExpression { try conditional() }

    private mutating func conditional() throws(ExpressionError) -> ModelExpression {
        try enter()
        defer { depth -= 1 }
        let condition = try binary(level: 0)
        let offset = cursor.current.offset
        guard cursor.accept("?") else { return condition }
        let whenTrue = try conditional()
        try cursor.expect(":", "between the branches of \"? :\"")
        return .conditional(condition, whenTrue, try conditional(), at: offset)
    }

    private static let levels: [[String]] = [["||"], ["&&"], ["<", "<=", ">", ">=", "==", "!="], ["+", "-"], ["*", "/", ".*", "./"]]

    fileprivate mutating func binary(level: Int) throws(ExpressionError) -> ModelExpression {
        if level == Self.levels.count { return try unary() }
        try enter()
        defer { depth -= 1 }
        var left = try binary(level: level + 1)
        while case .symbol(let symbol) = cursor.current.kind, Self.levels[level].contains(symbol) {
            let offset = cursor.current.offset
            cursor.position += 1
            left = .binary(symbol, left, try binary(level: level + 1), at: offset)
        }
        return left
    }

    private mutating func unary() throws(ExpressionError) -> ModelExpression {
        try enter()
        defer { depth -= 1 }
        let offset = cursor.current.offset
        if cursor.accept("-") { return .unary("-", try unary(), at: offset) }
        if cursor.accept("+") { return try unary() }
        if cursor.accept("!") { return .unary("!", try unary(), at: offset) }
        let base = try postfix()
        let powerOffset = cursor.current.offset
        if cursor.accept("^") { return .binary("^", base, try unary(), at: powerOffset) }
        return base
    }

    private mutating func postfix() throws(ExpressionError) -> ModelExpression {
        var node = try primary()
        while true {
            let offset = cursor.current.offset
            if cursor.accept("[") {
                var items: [ModelExpression.IndexItem] = []
                repeat { items.append(try indexItem()) } while cursor.accept(",")
                try cursor.expect("]", "to close the index")
                node = .index(node, items, at: offset)
            } else if cursor.accept("'") {
                node = .transpose(node, at: offset)
            } else {
                return node
            }
        }
    }

    private mutating func indexItem() throws(ExpressionError) -> ModelExpression.IndexItem {
        if cursor.accept(":") { return .range(nil, isSymbol(",") || isSymbol("]") ? nil : try binary(level: 0)) }
        let first = try binary(level: 0)
        guard cursor.accept(":") else { return .single(first) }
        return .range(first, isSymbol(",") || isSymbol("]") ? nil : try binary(level: 0))
    }

    private mutating func primary() throws(ExpressionError) -> ModelExpression {
        try enter()
        defer { depth -= 1 }
        let token = cursor.current
        switch token.kind {
        case .number(let value):
            cursor.position += 1
            return .number(value, isInteger: token.isInteger, at: token.offset)
        case .identifier(let name):
            cursor.position += 1
            guard cursor.accept("(") else { return .name(name, at: token.offset) }
            var arguments: [ModelExpression] = []
            if !cursor.accept(")") {
                // `normal_lpdf(y | mu, sigma)`: the bar separates the outcome like a comma.
                repeat { arguments.append(try expression()) } while cursor.accept(",") || cursor.accept("|")
                try cursor.expect(")", "to close the arguments of \(name)(")
            }
            return .call(name, arguments, at: token.offset)
        case .symbol("("):
            cursor.position += 1
            let inner = try expression()
            try cursor.expect(")", "to close \"(\"")
            return inner
        case .symbol("["):
            // An array expression `[a, b]` would need shapes inferred from elements; not yet.
            throw cursor.error("array expressions [ ... ] are not available; declare the variable and assign its elements")
        default:
            throw cursor.error("expected a number, a name or \"(\", found \(cursor.describe(token))")
        }
    }
}
