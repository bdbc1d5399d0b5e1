import Foundation
import FuzzDriver
import Sampling

/// libFuzzer target: model programs (the Stan subset). The first 8 bytes choose the point's scale, the
/// rest is the program, compiled against fixed data (ints, a vector, a matrix). Compiling must end in a
/// model or an `ExpressionError`, within the compile limits; a model's log density, gradient and draw at
/// a point are computed and must be numbers or NaN, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard count > 8 else { return 0 }
    let scale = Double(bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)) / 65_536
    let source = String(decoding: bytes[8...], as: UTF8.self)
    let data: [String: ModelData] = [
        "N": .number(3), "K": .number(2), "y": ModelData(shape: [3], values: [1, -2, 3.5]),
        "g": ModelData(shape: [3], values: [1, 2, 1]), "X": ModelData(shape: [3, 2], values: [1, 0.5, 1, -1, 1, 2]),
    ]
    guard let model = try? Model(program: source, data: data) else { return 0 }
    let evaluator = model.makeEvaluator()
    let z = (0..<model.dimension).map { Double($0 % 5 - 2) * scale }
    var gradient = [Double](repeating: 0, count: model.dimension)
    _ = z.withUnsafeBufferPointer { z in gradient.withUnsafeMutableBufferPointer { evaluator.logDensityAndGradient(z, into: $0) } }
    let draw = evaluator.draw(z)
    precondition(draw.count == model.coordinateNames.count, "one reported value per name")
    return 0
}

@_cdecl("FuzzModel_main")
public func fuzzModelMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzModel(UnsafeRawPointer(data ?? UnsafePointer(bitPattern: 1)!), size) }
}
