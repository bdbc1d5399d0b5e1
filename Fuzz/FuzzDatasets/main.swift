import Clustering
import Foundation
import FuzzDriver

/// libFuzzer target: any bytes as an uploaded file (npy, IDX, CSV, gzip'd or not), then as a dataset
/// and as labels. Every input must end in a value or a `DatasetError`, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatasets(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var data = Data(bytes: start, count: count)
    if Gzip.isCompressed(data.prefix(2)) {
        guard let inflated = try? Gzip.decompress(data, limit: 1 << 22) else { return 0 }
        data = inflated
    }
    guard let read = try? NumericArray.read(data, field: "data", csvLabelColumn: data.first.map { $0 % 2 == 0 ? "0" : "label" }) else {
        return 0
    }
    let (array, labels) = (read.array, read.csvLabels)
    _ = try? Dataset.from(array, labels: labels)
    _ = try? Dataset.labels(array)
    return 0
}

@_cdecl("FuzzDatasets_main")
public func fuzzDatasetsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzDatasets(UnsafeRawPointer(data ?? UnsafePointer(bitPattern: 1)!), size) }
}
