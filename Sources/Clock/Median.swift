/// The median of a sample (0 for none): calibration and benchmarks report medians, which one
/// slow repetition on a busy machine does not move.
public enum Median {
    public static func of(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
