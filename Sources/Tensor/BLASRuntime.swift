import COpenBLAS
import Foundation

/// OpenBLAS picks its kernels once, when the library loads, from CPU detection or
/// `OPENBLAS_CORETYPE`. Debian's 0.3.21 does not know recent CPUs (AMD Zen 4, for one) and falls
/// back to its baseline "Prescott" kernels, about 5× slower than the AVX-512 ones the CPU can run.
/// `ensureFastKernels()` fixes that without users knowing: when detection fell back and the CPU has
/// AVX-512 (or AVX2 + FMA), it sets the variable and re-executes the program, since the choice cannot
/// change after load. Where detection works, it does nothing.
public enum BLASRuntime {
    /// The kernel family OpenBLAS is using, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Cores whose kernels are slow baselines: the fallbacks of an undetected CPU.
    static let fallbackCores: Set<String> = ["prescott", "core2", "nehalem", "katmai", "coppermine", "northwood", "banias", "atom"]

    /// The best kernel family this CPU can run, from its flags; nil when only the baseline fits.
    public static func preferredCore(flags: Set<String> = cpuFlags()) -> String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(line.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
    }

    /// Call first thing in `main`. Returns only when no re-execution was needed (or it failed).
    public static func ensureFastKernels() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["MONTECLUSTER_KEEP_BLAS_CORE"] == nil else { return }
        guard fallbackCores.contains(coreName.lowercased()), let core = preferredCore() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        // Marks the re-executed process so a failed choice can never loop.
        setenv("MONTECLUSTER_KEEP_BLAS_CORE", "1", 1)
        var arguments = CommandLine.arguments.map { strdup($0) }
        arguments.append(nil)
        execv("/proc/self/exe", &arguments)
        // execv only returns on failure: carry on with the slow kernels rather than not at all.
    }

    /// Threads OpenBLAS uses for one product.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }
}

/// Process-wide settings for training processes.
public enum TensorRuntime {
    /// Keeps freed tensor buffers in the heap instead of unmapping them: glibc otherwise returns every
    /// large buffer to the kernel and the next training step page-faults its memory back in, zeroed.
    /// Peak memory is unchanged (the same buffers are reused); it is just not handed back between steps.
    public static func keepFreedBuffers() {
        // mallopt is glibc's (malloc.h is outside Swift's Glibc module), so it is looked up by name.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 512 << 20)
        _ = mallopt(trimThreshold, 1 << 30)
    }
}
