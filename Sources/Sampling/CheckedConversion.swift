/// Double → Int conversions that cannot trap. `Int(x)` traps on NaN, ±∞ and |x| ≥ 2⁶³, and a trap
/// kills the whole server, so numeric code that turns a computed double into a count, an index or
/// a guess uses one of these instead.
extension Int {
    /// `x` rounded toward zero when it is finite and fits in an Int; nil otherwise.
    public init?(checking x: Double) {
        guard x.isFinite, x >= -9.223_372_036_854_775e18, x < 9.223_372_036_854_775e18 else { return nil }
        self.init(x)
    }

    /// `x` rounded toward zero and clamped to `range`; NaN gives `nan`.
    public init(saturating x: Double, in range: ClosedRange<Int> = (Int.min / 2)...(Int.max / 2), nan: Int) {
        if x.isNaN {
            self = nan
        } else if x <= Double(range.lowerBound) {
            self = range.lowerBound
        } else if x >= Double(range.upperBound) {
            self = range.upperBound
        } else {
            self.init(x)
        }
    }
}
