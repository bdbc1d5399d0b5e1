/// A problem with a user's expression: where (1-based line and column, and the character offset)
/// and what, in words a user can act on.
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "line \(line), column \(column): \(message)" }

    init(_ message: String, at offset: Int, in source: String) {
        self.offset = offset
        self.message = message
        var line = 1
        var column = 1
        for (index, character) in source.enumerated() {
            if index >= offset { break }
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        self.line = line
        self.column = column
    }
}

/// Limits that keep a user's expression cheap to compile and impossible to use as a weapon.
public enum ExpressionLimits {
    public static let maxLength = 20_000
    public static let maxDepth = 64
    public static let maxNodes = 5_000
    public static let maxVectorLength = 10_000_000
    /// Doubles a compiled expression may hold (16 MB; the gradient pass doubles it): about 40 vector
    /// operations over 50,000 data values.
    public static let maxWorkingValues = 2_000_000
}
