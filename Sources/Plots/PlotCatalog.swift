import Clustering
import Foundation
import Jobs

/// What a plot may read of a finished job. The server fills it from its store and dataset library; tests from fixtures.
public struct PlotSource: Sendable {
    public var job: Job
    public var artifactNames: Set<String>
    public var metricNames: [String]
    /// The kind's declarations of its metrics (units, what a step counts, phases).
    public var metricDeclarations: [MetricDeclaration] = []
    public var artifact: @Sendable (String) throws -> Data?
    public var metrics: @Sendable () throws -> [MetricPoint]
    /// The labels of the dataset the job ran on (nil when it has none, or no dataset, or it is gone).
    public var labels: @Sendable () throws -> [Int]?
    /// Some samples of that dataset, in the order asked, with their labels: plots show a few of many (nil when gone).
    public var samples: @Sendable ([Int]) throws -> Dataset?
    /// Another job's artifact (RUC's source assignments).
    public var otherArtifact: @Sendable (_ job: String, _ name: String) throws -> Data?

    public init(
        job: Job, artifactNames: Set<String>, metricNames: [String], artifact: @escaping @Sendable (String) throws -> Data?,
        metrics: @escaping @Sendable () throws -> [MetricPoint], labels: @escaping @Sendable () throws -> [Int]?,
        samples: @escaping @Sendable ([Int]) throws -> Dataset?,
        otherArtifact: @escaping @Sendable (String, String) throws -> Data?
    ) {
        self.job = job
        self.artifactNames = artifactNames
        self.metricNames = metricNames
        self.artifact = artifact
        self.metrics = metrics
        self.labels = labels
        self.samples = samples
        self.otherArtifact = otherArtifact
    }

    func array(_ name: String) throws -> NumericArray? {
        guard artifactNames.contains(name), let data = try artifact(name) else { return nil }
        do { return try NumericArray.read(data, field: name).array } catch { throw PlotError.unreadable("\(name): \(error.reason)") }
    }

    var result: JSONValue { job.result ?? .object([:]) }
    var isClustering: Bool { job.kind.hasPrefix("cluster.") || job.kind.hasPrefix("semi.") }
}

public enum PlotError: Error, Sendable, Equatable {
    case unknownPlot(name: String, available: [String])
    /// A query option (field) with a bad value.
    case invalidOption(field: String, reason: String)
    /// An artifact the plot needs could not be read.
    case unreadable(String)
}

/// Query options some plots take (`?x=&y=` of the pair plot).
public struct PlotOptions: Sendable {
    public var x: String?
    public var y: String?
    public init(x: String? = nil, y: String? = nil) {
        self.x = x
        self.y = y
    }
    public static let names = ["x", "y"]
}

/// A plot a job can show: found from what the job left (metrics, draws, assignments, its dataset), not from its kind's name,
/// so a new kind that writes `draws.npy` or `assignments.npy` gets the plots of its outputs without changes here.
public struct PlotDefinition: Sendable {
    public let name: String
    public let title: String
    public let description: String
    let applies: @Sendable (PlotSource) -> Bool
    let render: @Sendable (PlotSource, PlotOptions) throws -> Figure
}

public enum PlotCatalog {
    public static let all: [PlotDefinition] = MetricPlots.definitions + SamplerPlots.definitions + ClusterPlots.definitions

    /// The plots `source`'s job can show, in the catalog's order.
    public static func available(_ source: PlotSource) -> [PlotDefinition] { all.filter { $0.applies(source) } }

    public static func render(_ name: String, _ source: PlotSource, options: PlotOptions = PlotOptions()) throws -> Figure {
        let plots = available(source)
        guard let plot = plots.first(where: { $0.name == name }) else { throw PlotError.unknownPlot(name: name, available: plots.map(\.name)) }
        return try plot.render(source, options)
    }
}

/// Helpers the plot builders share.
enum PlotMath {
    /// Up to `buckets` (min, max) pairs in draw order: a trace of a million draws keeps its envelope in 2 × width points.
    static func envelope(_ values: [Double], buckets: Int) -> [(index: Double, value: Double)] {
        guard values.count > 2 * buckets, buckets > 0 else { return values.enumerated().map { (Double($0.offset), $0.element) } }
        var points: [(Double, Double)] = []
        points.reserveCapacity(2 * buckets)
        let size = Double(values.count) / Double(buckets)
        for bucket in 0..<buckets {
            let start = Int(Double(bucket) * size), end = min(values.count, Int(Double(bucket + 1) * size))
            guard start < end else { continue }
            var (low, high, lowIndex, highIndex) = (Double.infinity, -Double.infinity, start, start)
            for index in start..<end where values[index].isFinite {
                if values[index] < low { (low, lowIndex) = (values[index], index) }
                if values[index] > high { (high, highIndex) = (values[index], index) }
            }
            guard low.isFinite else { continue }
            if lowIndex <= highIndex {
                points.append((Double(lowIndex), low))
                points.append((Double(highIndex), high))
            } else {
                points.append((Double(highIndex), high))
                points.append((Double(lowIndex), low))
            }
        }
        return points
    }

    /// Finite minimum and maximum (nil when there is no finite value).
    static func range(_ values: some Sequence<Double>) -> (Double, Double)? {
        var (low, high) = (Double.infinity, -Double.infinity)
        for value in values where value.isFinite {
            low = min(low, value)
            high = max(high, value)
        }
        return low <= high ? (low, high) : nil
    }

    /// Counts of finite values in `bins` equal bins over `range`.
    static func histogram(_ values: some Sequence<Double>, bins: Int, range: (Double, Double)) -> [Int] {
        var counts = [Int](repeating: 0, count: bins)
        let width = range.1 - range.0
        guard width > 0, width.isFinite else {
            counts[bins / 2] = values.reduce(0) { $1.isFinite ? $0 + 1 : $0 }
            return counts
        }
        for value in values where value.isFinite {
            let position = (value - range.0) / width * Double(bins)
            let bin = position >= Double(bins) ? bins - 1 : position < 0 ? 0 : Int(position)
            counts[bin] += 1
        }
        return counts
    }

    /// Every `stride`-th value, so at most `limit` remain.
    static func thinned<T>(_ values: [T], limit: Int) -> [T] {
        guard values.count > limit, limit > 0 else { return values }
        let stride = (values.count + limit - 1) / limit
        return Swift.stride(from: 0, to: values.count, by: stride).map { values[$0] }
    }

    /// Integers read from an `.npy` array of any numeric type; non-finite or out-of-range values become −1.
    static func integers(_ array: NumericArray) -> [Int] {
        array.doubles().map { $0.isFinite && abs($0) < 1e9 ? Int($0) : -1 }
    }
}

/// A grid of panels laid out in a figure, left to right then down.
struct PanelGrid {
    let columns: Int
    let rows: Int
    let panelWidth: Double
    let panelHeight: Double
    let top: Double
    let left = 70.0
    let horizontalGap = 70.0
    let verticalGap = 62.0

    init(count: Int, columns: Int, panelWidth: Double = 320, panelHeight: Double = 170, top: Double = 52) {
        self.columns = max(1, min(columns, count))
        rows = max(1, (count + self.columns - 1) / self.columns)
        self.panelWidth = panelWidth
        self.panelHeight = panelHeight
        self.top = top
    }

    var width: Int { Int(left + Double(columns) * (panelWidth + horizontalGap) - horizontalGap + 30) }
    var height: Int { Int(top + Double(rows) * (panelHeight + verticalGap) + 8) }

    func frame(_ index: Int) -> (x: Double, y: Double) {
        (left + Double(index % columns) * (panelWidth + horizontalGap), top + Double(index / columns) * (panelHeight + verticalGap))
    }

    func panel(_ index: Int, xRange: (Double, Double), yRange: (Double, Double)) -> Panel {
        let (x, y) = frame(index)
        return Panel(x: x, y: y, width: panelWidth, height: panelHeight, xRange: xRange, yRange: yRange)
    }
}
