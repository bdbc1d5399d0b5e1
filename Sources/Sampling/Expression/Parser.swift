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
    private var cursor: TokenCursor
    /// Recursion depth: each bracket level costs several grammar levels (conditional, five binary
    /// levels, unary, primary), so this bounds the stack, and `nesting` is what users count.
    private var depth = 0
    private var nesting = 0
    private var nodes = 0

    static func parse(_ source: String) throws(ExpressionError) -> Node {
        var parser = Parser(source: source, tokens: try Lexer.tokenize(source))
        let node = try parser.conditional()
        guard case .end = parser.cursor.current.kind else {
            throw parser.cursor.error("unexpected \(parser.cursor.describe(parser.cursor.current)) after a complete expression")
        }
        return node
    }

    private init(source: String, tokens: [Token]) {
        cursor = TokenCursor(source: source, tokens: tokens, endDescription: "end of expression")
    }

    private mutating func enter() throws(ExpressionError) {
        depth += 1
        nodes += 1
        if depth > ExpressionLimits.maxDepth * 12 { throw cursor.error("the expression nests deeper than \(ExpressionLimits.maxDepth) levels") }
        if nodes > ExpressionLimits.maxNodes { throw cursor.error("the expression has more than \(ExpressionLimits.maxNodes) parts") }
    }

    /// Brackets — `( )`, a call's arguments, an index — and chained unary operators each count one level.
    private mutating func nested<T>(_ body: (inout Parser) throws(ExpressionError) -> T) throws(ExpressionError) -> T {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > ExpressionLimits.maxDepth { throw cursor.error("the expression nests deeper than \(ExpressionLimits.maxDepth) levels") }
        return try body(&self)
    }

    private mutating func conditional() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let condition = try binary(level: 0)
        let offset = cursor.current.offset
        guard cursor.accept("?") else { return condition }
        let whenTrue = try conditional()
        try cursor.expect(":", "between the branches of \"? :\"")
        let whenFalse = try conditional()
        return .conditional(condition, whenTrue, whenFalse, offset: offset)
    }

    private static let levels: [[String]] = [["||"], ["&&"], ["<", "<=", ">", ">=", "==", "!="], ["+", "-"], ["*", "/"]]

    private mutating func binary(level: Int) throws(ExpressionError) -> Node {
        if level == Self.levels.count { return try unary() }
        try enter()
        defer { depth -= 1 }
        var left = try binary(level: level + 1)
        while case .symbol(let symbol) = cursor.current.kind, Self.levels[level].contains(symbol) {
            let offset = cursor.current.offset
            cursor.position += 1
            let right = try binary(level: level + 1)
            left = .binary(symbol, left, right, offset: offset)
            // Comparisons do not chain: a < b < c is almost always a mistake.
            if level == 2, case .symbol(let next) = cursor.current.kind, Self.levels[2].contains(next) {
                throw cursor.error("comparisons cannot be chained; combine them with &&")
            }
        }
        return left
    }

    private mutating func unary() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let offset = cursor.current.offset
        if cursor.accept("-") { return .unary("-", try nested { parser throws(ExpressionError) in try parser.unary() }, offset: offset) }
        if cursor.accept("+") { return try nested { parser throws(ExpressionError) in try parser.unary() } }
        if cursor.accept("!") { return .unary("!", try nested { parser throws(ExpressionError) in try parser.unary() }, offset: offset) }
        return try power()
    }

    private mutating func power() throws(ExpressionError) -> Node {
        let base = try postfix()
        let offset = cursor.current.offset
        if cursor.accept("^") {
            // Right-associative, and binds tighter than unary minus on its left: -x^2 = -(x^2).
            return .binary("^", base, try unary(), offset: offset)
        }
        return base
    }

    private mutating func postfix() throws(ExpressionError) -> Node {
        var node = try primary()
        while case .symbol("[") = cursor.current.kind {
            let offset = cursor.current.offset
            cursor.position += 1
            let index = try nested { parser throws(ExpressionError) in try parser.conditional() }
            try cursor.expect("]", "to close the index")
            node = .index(node, index, offset: offset)
        }
        return node
    }

    private mutating func primary() throws(ExpressionError) -> Node {
        try enter()
        defer { depth -= 1 }
        let token = cursor.current
        switch token.kind {
        case .number(let value):
            cursor.position += 1
            return .number(value, offset: token.offset)
        case .identifier(let name):
            cursor.position += 1
            guard cursor.accept("(") else { return .variable(name, offset: token.offset) }
            var arguments: [Node] = []
            if !cursor.accept(")") {
                repeat { arguments.append(try nested { parser throws(ExpressionError) in try parser.conditional() }) } while cursor.accept(",")
                try cursor.expect(")", "to close the arguments of \(name)(")
            }
            return .call(name, arguments, offset: token.offset)
        case .symbol("("):
            cursor.position += 1
            let inner = try nested { parser throws(ExpressionError) in try parser.conditional() }
            try cursor.expect(")", "to close \"(\"")
            return inner
        default:
            throw cursor.error("expected a number, a name or \"(\", found \(cursor.describe(token))")
        }
    }
}
