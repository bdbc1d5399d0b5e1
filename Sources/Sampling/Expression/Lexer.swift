enum TokenKind: Equatable {
    case number(Double)
    case identifier(String)
    case symbol(String)
    case end
}

struct Token {
    var kind: TokenKind
    var offset: Int
    /// A number written without a point or exponent (an `int` in model programs).
    var isInteger = false
}

/// Splits expression text into numbers, identifiers and operator symbols.
struct Lexer {
    static let symbols = ["<=", ">=", "==", "!=", "&&", "||", "+", "-", "*", "/", "^", "(", ")", "[", "]", ",", "<", ">", "!", "?", ":"]

    /// Model programs add statements, blocks and Stan's operators, and `//` and `/* */` comments.
    static let programSymbols = [
        "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", ".*", "./", "+", "-", "*", "/", "^", "(", ")", "[", "]", "{", "}",
        ",", ";", "<", ">", "!", "?", ":", "~", "|", "=", "'",
    ]

    static func tokenize(_ source: String, symbols: [String] = symbols, program: Bool = false) throws(ExpressionError) -> [Token] {
        guard source.utf8.count <= ExpressionLimits.maxLength else {
            throw ExpressionError(
                "the \(program ? "program" : "expression") is longer than \(ExpressionLimits.maxLength) characters", at: 0, in: source)
        }
        let characters = Array(source)
        var tokens: [Token] = []
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            if program && character == "/" && index + 1 < characters.count && characters[index + 1] == "*" {
                guard
                    let end = (index + 2..<max(index + 2, characters.count - 1)).first(where: { characters[$0] == "*" && characters[$0 + 1] == "/" })
                else {
                    throw ExpressionError("a /* comment is never closed", at: index, in: source)
                }
                index = end + 2
                continue
            }
            if character == "#" || (program && character == "/" && index + 1 < characters.count && characters[index + 1] == "/") {
                // Comment to the end of the line.
                while index < characters.count && characters[index] != "\n" { index += 1 }
                continue
            }
            if character.isASCII && (character.isNumber || (character == "." && index + 1 < characters.count && characters[index + 1].isNumber)) {
                let start = index
                while index < characters.count && characters[index].isASCII && (characters[index].isNumber || characters[index] == ".") { index += 1 }
                if index < characters.count && (characters[index] == "e" || characters[index] == "E") {
                    var lookahead = index + 1
                    if lookahead < characters.count && (characters[lookahead] == "+" || characters[lookahead] == "-") { lookahead += 1 }
                    if lookahead < characters.count && characters[lookahead].isASCII && characters[lookahead].isNumber {
                        index = lookahead
                        while index < characters.count && characters[index].isASCII && characters[index].isNumber { index += 1 }
                    }
                }
                let text = String(characters[start..<index])
                guard let value = Double(text), value.isFinite else {
                    throw ExpressionError("\"\(text)\" is not a number", at: start, in: source)
                }
                tokens.append(Token(kind: .number(value), offset: start, isInteger: text.allSatisfy(\.isNumber)))
                continue
            }
            if character.isASCII && (character.isLetter || character == "_") {
                let start = index
                while index < characters.count && characters[index].isASCII
                    && (characters[index].isLetter || characters[index].isNumber || characters[index] == "_")
                { index += 1 }
                tokens.append(Token(kind: .identifier(String(characters[start..<index])), offset: start))
                continue
            }
            if let symbol = symbols.first(where: { symbol in
                let symbolCharacters = Array(symbol)
                return index + symbolCharacters.count <= characters.count
                    && Array(characters[index..<(index + symbolCharacters.count)]) == symbolCharacters
            }) {
                tokens.append(Token(kind: .symbol(symbol), offset: index))
                index += symbol.count
                continue
            }
            throw ExpressionError("unexpected character \"\(character)\"", at: index, in: source)
        }
        tokens.append(Token(kind: .end, offset: characters.count))
        return tokens
    }
}

/// A position in a token list and what both parsers (expressions and model programs) do with it: read
/// the current token, take an expected symbol, and report a problem at a position.
struct TokenCursor {
    let source: String
    let tokens: [Token]
    /// How the end of the input reads in messages ("end of expression", "the end of the program").
    let endDescription: String
    var position = 0

    var current: Token { tokens[position] }

    func error(_ message: String, at offset: Int? = nil) -> ExpressionError {
        ExpressionError(message, at: offset ?? current.offset, in: source)
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .number(let value): return "number \(value)"
        case .identifier(let name): return "name \"\(name)\""
        case .symbol(let symbol): return "\"\(symbol)\""
        case .end: return endDescription
        }
    }

    mutating func accept(_ symbol: String) -> Bool {
        guard case .symbol(symbol) = current.kind else { return false }
        position += 1
        return true
    }

    mutating func expect(_ symbol: String, _ context: String) throws(ExpressionError) {
        guard accept(symbol) else { throw error("expected \"\(symbol)\" \(context), found \(describe(current))") }
    }
}
