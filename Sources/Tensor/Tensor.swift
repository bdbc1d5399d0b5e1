/// A dense, contiguous Float32 array of up to four dimensions (NCHW for images), row-major.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.count >= 1 && shape.count <= 4, "tensors have 1 to 4 dimensions")
        precondition(shape.reduce(1, *) == storage.count, "storage size must match the shape")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor whose every element `initialize` writes (no zero-fill first).
    public init(shape: [Int], initializingWith initialize: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.init(
            shape: shape,
            storage: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                initialize(buffer)
                initialized = count
            })
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    public subscript(row: Int, column: Int) -> Float {
        get { storage[row * shape[1] + column] }
        set { storage[row * shape[1] + column] = newValue }
    }
}
