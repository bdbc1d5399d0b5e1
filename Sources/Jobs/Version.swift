/// The version `montecluster --version` prints, `/metrics` reports and saved models record.
public enum MonteClusterVersion {
    public static let current = "0.4.0"
}
