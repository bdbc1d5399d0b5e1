import Foundation
import FuzzDriver
import Sampling

/// libFuzzer target: the expression language. The first 16 bytes choose the point (two scalars and a
/// vector of 3), the rest is the source. Compiling must end in a program or an `ExpressionError`; a
/// program's value and gradient are computed at that point and must be a number or NaN, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExpression(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard count > 16 else { return 0 }
    var point: [Double] = []
    for index in 0..<4 {
        let raw = bytes.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self)
        point.append(Double(raw) / 65_536)
    }
    point.append(point[3] * -0.5)
    let source = String(decoding: bytes[16...], as: UTF8.self)
    let symbols = ExpressionSymbols(
        parameters: [(name: "x", size: nil), (name: "s", size: nil), (name: "v", size: 3)],
        data: ["y": .vector([1, -2, 3.5, 0, 1e-300]), "n": .scalar(5)])
    guard let program = try? ExpressionCompiler.compile(source, symbols: symbols) else { return 0 }
    let evaluator = Evaluator(program)
    let (value, gradient) = evaluator.valueAndGradient(point)
    precondition(gradient.count == 5, "one partial derivative per coordinate")
    _ = value
    return 0
}

@_cdecl("FuzzExpression_main")
public func fuzzExpressionMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzExpression(UnsafeRawPointer(data ?? UnsafePointer(bitPattern: 1)!), size) }
}
