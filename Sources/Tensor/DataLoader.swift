import Foundation
import RandomStreams

/// One batch: the sample indices, one tensor per augmented view ([B, C, H, W]), and labels if any.
public struct Batch: Sendable {
    public var indices: [Int]
    public var views: [Tensor]
    public var labels: [Int]?
}

/// Assembles shuffled, augmented batches on worker threads ahead of the training step (like
/// PyTorch's `num_workers` with prefetch). Each batch's content depends only on (seed, epoch, batch
/// index), never on thread timing, so a seed fixes the whole run — and a resumed run can start at any
/// batch of any epoch.
public final class DataLoader: @unchecked Sendable {
    public let images: [Float]
    public let labels: [Int]?
    public let shape: (channels: Int, height: Int, width: Int)
    public let batchSize: Int
    public let seed: UInt64
    public let augmentation: Augmentation?
    public let normalization: ChannelNormalization?
    /// Independently augmented views per sample (2 for IIC's and SimCLR's pairs).
    public let views: Int
    /// View 0 is the sample as it is (IIC pairs each sample with transformed copies of itself).
    public let plainFirstView: Bool
    public let workers: Int
    public let prefetch: Int
    public let dropLast: Bool

    public init(
        images: [Float], labels: [Int]?, shape: (channels: Int, height: Int, width: Int), batchSize: Int, seed: UInt64,
        augmentation: Augmentation? = nil, normalization: ChannelNormalization? = nil, views: Int = 1, plainFirstView: Bool = false,
        workers: Int = 2, prefetch: Int = 4, dropLast: Bool = false
    ) {
        self.images = images
        self.labels = labels
        self.shape = shape
        self.batchSize = batchSize
        self.seed = seed
        self.augmentation = augmentation
        self.normalization = normalization
        self.views = views
        self.plainFirstView = plainFirstView
        self.workers = max(1, workers)
        self.prefetch = max(1, prefetch)
        self.dropLast = dropLast
    }

    public var sampleCount: Int { images.count / (shape.channels * shape.height * shape.width) }
    public var batchesPerEpoch: Int { dropLast ? sampleCount / batchSize : (sampleCount + batchSize - 1) / batchSize }

    /// The epoch's sample order: a Fisher–Yates shuffle seeded by (seed, epoch).
    public func order(epoch: Int) -> [Int] {
        var rng = RandomStream(seed: Self.mix(seed, UInt64(epoch), 0x5EED))
        var order = Array(0..<sampleCount)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        return order
    }

    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        var z = a &+ 0x9E37_79B9_7F4A_7C15 &* (b &+ 1) &+ 0xBF58_476D_1CE4_E5B9 &* (c &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Builds batch `index` of `epoch` (any thread).
    public func batch(epoch: Int, index: Int, order: [Int]) -> Batch {
        let start = index * batchSize
        let members = Array(order[start..<min(order.count, start + batchSize)])
        let size = shape.channels * shape.height * shape.width
        var tensors: [Tensor] = []
        for view in 0..<views {
            var storage = [Float](repeating: 0, count: members.count * size)
            for (position, sample) in members.enumerated() {
                var image = Array(images[(sample * size)..<((sample + 1) * size)])
                var rng = RandomStream(seed: Self.mix(seed, UInt64(epoch), UInt64(sample) &* 16 &+ UInt64(view)))
                if !(plainFirstView && view == 0) {
                    augmentation?.apply(&image, channels: shape.channels, height: shape.height, width: shape.width, rng: &rng)
                }
                normalization?.apply(&image, planeSize: shape.height * shape.width)
                storage.replaceSubrange((position * size)..<((position + 1) * size), with: image)
            }
            tensors.append(Tensor(shape: [members.count, shape.channels, shape.height, shape.width], storage: storage))
        }
        return Batch(indices: members, views: tensors, labels: labels.map { labels in members.map { labels[$0] } })
    }

    /// The batches of `epoch` from `firstBatch` on, prepared `prefetch` ahead by `workers` threads.
    /// Dropping the stream before its end stops the producer.
    public func batches(epoch: Int, from firstBatch: Int = 0) -> BatchStream {
        let order = self.order(epoch: epoch)
        let total = batchesPerEpoch
        let pipeline = Pipeline(prefetch: prefetch, workers: workers)
        let queue = DispatchQueue(label: "montecluster.loader", attributes: .concurrent)
        DispatchQueue.global().async { [self] in
            for index in firstBatch..<total {
                // Waits for room in the prefetch window and a free worker; stops once the stream is dropped.
                guard pipeline.reserve() else { return }
                queue.async {
                    pipeline.put(index, self.batch(epoch: epoch, index: index, order: order))
                }
            }
        }
        return BatchStream(pipeline: pipeline, next: firstBatch, total: total)
    }

    public final class BatchStream: Sequence, IteratorProtocol {
        private let pipeline: Pipeline
        private var position: Int
        private let total: Int

        init(pipeline: Pipeline, next: Int, total: Int) {
            self.pipeline = pipeline
            self.position = next
            self.total = total
        }

        public func next() -> Batch? {
            guard position < total else { return nil }
            let batch = pipeline.take(position)
            position += 1
            return batch
        }

        deinit { pipeline.cancel() }
    }

    /// Batches ready or in preparation, bounded by the prefetch window and the worker count.
    final class Pipeline: @unchecked Sendable {
        private let condition = NSCondition()
        private var ready: [Int: Batch] = [:]
        private var cancelled = false
        /// Batches reserved but not yet taken (the prefetch window), and those being built.
        private var outstanding = 0
        private var building = 0
        private let prefetch: Int
        private let workers: Int

        init(prefetch: Int, workers: Int) {
            self.prefetch = prefetch
            self.workers = workers
        }

        func reserve() -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while !cancelled && (outstanding >= prefetch || building >= workers) { condition.wait() }
            guard !cancelled else { return false }
            outstanding += 1
            building += 1
            return true
        }

        func put(_ index: Int, _ batch: Batch) {
            condition.lock()
            ready[index] = batch
            building -= 1
            condition.broadcast()
            condition.unlock()
        }

        func take(_ index: Int) -> Batch {
            condition.lock()
            defer { condition.unlock() }
            while ready[index] == nil { condition.wait() }
            outstanding -= 1
            condition.broadcast()
            return ready.removeValue(forKey: index)!
        }

        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
