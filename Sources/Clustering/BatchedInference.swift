import Tensor

/// Runs `forward` without a graph over `values` (samples of `inputShape`, row after row) in batches,
/// so evaluating a whole dataset never holds more than one batch's activations.
public func inferInBatches(
    _ values: [Float], count n: Int, inputShape: [Int], batchSize: Int = 512,
    _ forward: (Variable) -> Variable
) -> [Float] {
    let size = inputShape.reduce(1, *)
    var out: [Float] = []
    for start in stride(from: 0, to: n, by: batchSize) {
        let rows = min(batchSize, n - start)
        let batch = Tensor(shape: [rows] + inputShape, storage: Array(values[(start * size)..<((start + rows) * size)]))
        out += GradientMode.withoutGradients { forward(Variable(batch)) }.value.storage
    }
    return out
}
