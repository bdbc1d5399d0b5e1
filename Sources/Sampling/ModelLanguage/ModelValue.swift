import Foundation

/// Data handed to a model program: a number or a (nested, rectangular) array, flattened row-major.
public struct ModelData: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Double]

    public init(shape: [Int], values: [Double]) {
        self.shape = shape
        self.values = values
    }

    public static func number(_ value: Double) -> ModelData { ModelData(shape: [], values: [value]) }
}

/// One element of a compile-time value: a number known while compiling (data, transformed data, loop
/// indices) or an element of a tape slot computed at run time (anything that depends on parameters).
enum ModelReference {
    case constant(Double)
    case element(slot: Int, index: Int)

    var constant: Double? {
        if case .constant(let value) = self { return value }
        return nil
    }
}

/// A value while compiling a model program: its type (array dimensions around a scalar, vector,
/// row vector or matrix) and where its elements are, row-major.
struct ModelValue {
    enum Form: Equatable {
        case scalar, vector, rowVector, matrix
    }

    var arrayDimensions: [Int]
    var form: Form
    /// scalar: []; vector and row vector: [n]; matrix: [rows, columns].
    var shape: [Int]
    var isInteger: Bool
    var storage: Storage

    enum Storage {
        /// Contiguous in one tape slot (a vector operation's output, a parameter block).
        case slot(Int)
        /// Element by element (assigned one at a time, gathered by an index, or known constants).
        case elements([ModelReference])
    }

    var dimensions: [Int] { arrayDimensions + shape }
    var count: Int { Self.product(dimensions) ?? Int.max }

    /// The product of sizes, or nil when it would overflow (sizes are each at most 10⁷, but
    /// `array[10000000, 10000000, 10000000] real` must be refused, not trap).
    static func product(_ sizes: [Int]) -> Int? {
        var total = 1
        for size in sizes {
            let (next, overflow) = total.multipliedReportingOverflow(by: size)
            if overflow { return nil }
            total = next
        }
        return total
    }
    var isScalar: Bool { arrayDimensions.isEmpty && form == .scalar }

    static func scalar(_ reference: ModelReference, isInteger: Bool = false) -> ModelValue {
        ModelValue(arrayDimensions: [], form: .scalar, shape: [], isInteger: isInteger, storage: .elements([reference]))
    }

    static func constant(_ values: [Double], like type: ModelValue, isInteger: Bool? = nil) -> ModelValue {
        var value = type
        value.storage = .elements(values.map { .constant($0) })
        if let isInteger { value.isInteger = isInteger }
        return value
    }

    var typeDescription: String {
        let base: String
        switch form {
        case .scalar: base = isInteger ? "int" : "real"
        case .vector: base = "vector[\(shape[0])]"
        case .rowVector: base = "row_vector[\(shape[0])]"
        case .matrix: base = "matrix[\(shape[0]), \(shape[1])]"
        }
        guard !arrayDimensions.isEmpty else { return base }
        return "array[\(arrayDimensions.map(String.init).joined(separator: ", "))] \(base)"
    }
}

/// Limits on a model program's compiled size and compile-time work, checked before anything runs.
public enum ModelLimits {
    /// Statements, loop iterations and expression nodes executed while compiling (unrolling loops).
    public static let maxSteps = 1_000_000
    /// Instructions on the tape one log-density evaluation runs.
    public static let maxInstructions = 1_000_000
    /// Unconstrained coordinates.
    public static let maxParameters = 10_000
}
