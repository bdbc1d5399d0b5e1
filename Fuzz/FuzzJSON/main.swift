import Foundation
import FuzzDriver
import Jobs

/// libFuzzer target: request bodies. Parsing must end in a value or an error; a value must survive a
/// round trip through its canonical text unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let value = try? JSONValue.parse(data) else { return 0 }
    let text = value.canonicalText()
    guard let again = try? JSONValue.parse(text) else { fatalError("canonical text does not parse: \(text.prefix(200))") }
    // Non-finite numbers cannot come from JSON text, so equality is exact.
    precondition(again == value, "round trip changed the value: \(text.prefix(200))")
    return 0
}

@_cdecl("FuzzJSON_main")
public func fuzzJSONMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzJSON(UnsafeRawPointer(data ?? UnsafePointer(bitPattern: 1)!), size) }
}
