/// The syntax tree of an expression.
indirect enum Node {
    case number(Double, offset: Int)
    case variable(String, offset: Int)
    case unary(String, Node, offset: Int)
    case binary(String, Node, Node, offset: Int)
    case call(String, [Node], offset: Int)
    case index(Node, Node, offset: Int)
    case conditional(Node, Node, Node, offset: Int)

    var offset: Int {
        switch self {
        case .number(_, let offset), .variable(_, let offset), .unary(_, _, let offset), .binary(_, _, _, let offset),
            .call(_, _, let offset), .index(_, _, let offset), .conditional(_, _, _, let offset):
            return offset
        }
    }
}

/// Recursive-descent parser, lowest precedence first:
/// `c ? a : b`, `||`, `&&`, comparisons, `+ -`, `* /`, unary `- !`, `^` (right-associative), calls and indexing.
struct Parser {
    private let source: String
    private let tokens: [Token]
    private var position = 0
    /// Recursion depth: each bracket level costs several grammar levels (conditional, five binary
    /// levels, unary, primary), so this bounds the stack, and `nesting` is what users count.
    private var depth = 0
    private var nesting = 0
    private var nodes = 0

    static func parse(_ source: String) throws(ExpressionError) -> Node {
        var parser = Parser(source: source, tokens: try Lexer.tokenize(source))
        let node = try parser.conditional()
        guard case .end = parser.current.kind else {
            throw parser.error("unexpected \(parser.describe(parser.current)) after a complete expression")
        }
        return node
    }

    private init(source: String, tokens: [Token]) {
        self.source = source
        self.tokens = tokens
    }

    private var current: Token { tokens[position] }

    private func error(_ message: String, at offset: Int? = nil) -> ExpressionError {
        ExpressionError(message, at: offset ?? current.offset, in: source)
    }

    private func describe(_ token: Token) -> String {
        switch token.kind {
        case .number(let value): return "number \(value)"
        case .identifier(let name): return "name \"\(name)\""
        case .symbol(let symbol): return "\"\(symbol)\""
        case .end: return "end of expression"
        }
    }

    private mutating func accept(_ symbol: String) -> Bool {
        if case .symbol(symbol) = current.kind {
            position += 1
            return true
        }
        return false
    }

    private mutating func expect(_ symbol: String, _ context: String) throws(ExpressionError) {
        guard accept(symbol) else { throw error("expected \"\(symbol)\" \(context), found \(describe(current))") }
    }

    private mutating func enter() throws(ExpressionError) {
        depth += 1
        nodes += 1
        if depth > ExpressionLimits.maxDepth * 12 { throw error("the expression nests deeper than \(ExpressionLimits.maxDepth) levels") }
        if nodes > ExpressionLimits.maxNodes { throw error("the expression has more than \(ExpressionLimits.maxNodes) parts") }
    }

    /// Brackets — `( )`, a call's arguments, an index — and chained unary operators each count one level.
    private mutating func nested<T>(_ body: (inout Parser) throws(ExpressionError) -> T) throws(ExpressionError) -> T {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > ExpressionLimits.maxDepth { throw error("the expression nests deeper than \(ExpressionLimits.maxDepth) levels") }
        return try body(&self)
    }

    private mutating func conditional() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let condition = try binary(level: 0)
        let offset = current.offset
        guard accept("?") else { return condition }
        let whenTrue = try conditional()
        try expect(":", "between the branches of \"? :\"")
        let whenFalse = try conditional()
        return .conditional(condition, whenTrue, whenFalse, offset: offset)
    }

    private static let levels: [[String]] = [["||"], ["&&"], ["<", "<=", ">", ">=", "==", "!="], ["+", "-"], ["*", "/"]]

    private mutating func binary(level: Int) throws(ExpressionError) -> Node {
        if level == Self.levels.count { return try unary() }
        try enter()
        defer { depth -= 1 }
        var left = try binary(level: level + 1)
        while case .symbol(let symbol) = current.kind, Self.levels[level].contains(symbol) {
            let offset = current.offset
            position += 1
            let right = try binary(level: level + 1)
            left = .binary(symbol, left, right, offset: offset)
            // Comparisons do not chain: a < b < c is almost always a mistake.
            if level == 2, case .symbol(let next) = current.kind, Self.levels[2].contains(next) {
                throw error("comparisons cannot be chained; combine them with &&")
            }
        }
        return left
    }

    private mutating func unary() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let offset = current.offset
        if accept("-") { return .unary("-", try nested { parser throws(ExpressionError) in try parser.unary() }, offset: offset) }
        if accept("+") { return try nested { parser throws(ExpressionError) in try parser.unary() } }
        if accept("!") { return .unary("!", try nested { parser throws(ExpressionError) in try parser.unary() }, offset: offset) }
        return try power()
    }

    private mutating func power() throws(ExpressionError) -> Node {
        let base = try postfix()
        let offset = current.offset
        if accept("^") {
            // Right-associative, and binds tighter than unary minus on its left: -x^2 = -(x^2).
            return .binary("^", base, try unary(), offset: offset)
        }
        return base
    }

    private mutating func postfix() throws(ExpressionError) -> Node {
        var node = try primary()
        while case .symbol("[") = current.kind {
            let offset = current.offset
            position += 1
            let index = try nested { parser throws(ExpressionError) in try parser.conditional() }
            try expect("]", "to close the index")
            node = .index(node, index, offset: offset)
        }
        return node
    }

    private mutating func primary() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let token = current
        switch token.kind {
        case .number(let value):
            position += 1
            return .number(value, offset: token.offset)
        case .identifier(let name):
            position += 1
            guard accept("(") else { return .variable(name, offset: token.offset) }
            var arguments: [Node] = []
            if !accept(")") {
                repeat { arguments.append(try nested { parser throws(ExpressionError) in try parser.conditional() }) } while accept(",")
                try expect(")", "to close the arguments of \(name)(")
            }
            return .call(name, arguments, offset: token.offset)
        case .symbol("("):
            position += 1
            let inner = try nested { parser throws(ExpressionError) in try parser.conditional() }
            try expect(")", "to close \"(\"")
            return inner
        default:
            throw error("expected a number, a name or \"(\", found \(describe(token))")
        }
    }
}
