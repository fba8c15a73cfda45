import TestSupport
import Foundation
import Testing
@testable import Host
@testable import Comparison

/// The comparison's statistics against values computed by hand.
struct CompareStatisticsTests {
    func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance
    }

    /// The report's "reproduce" line names everything that enters a trial's identity.
    @Test func theCommandLineReproducesTheTrials() {
        var r = ComparisonRequest(methods: ["baseline", "rho"], budgets: ["60s", "2m"], seeds: 3)
        r.settings = ["rho.proxy_budget=30s", "lr=5e-4"]
        r.free = ["scoring"]
        r.profiles = ["my profile.json"]
        r.pluginPaths = ["/opt/plugins"]
        r.reference = "rho"
        r.jobs = 2
        #expect(r.commandLine == "ntng compare --methods baseline,rho --budgets 60s,2m --seeds 3 --model small --corpus books "
                + "--set rho.proxy_budget=30s --set lr=5e-4 --free scoring --profile 'my profile.json' --plugin-path /opt/plugins --reference rho")
    }

    /// A run trained by another build of the host is another trial: compare never reuses it.
    @Test func trialIdentityIncludesTheHostBuild() throws {
        let settings = RunSettings(budget: try .parse("1s"))
        let a = TrialIdentity(settings: settings, profileJSON: "{}", pluginSHA256: [], build: "ntng 0.2.0 (build aaaaaaaaaaaa)")
        let b = TrialIdentity(settings: settings, profileJSON: "{}", pluginSHA256: [], build: "ntng 0.2.0 (build bbbbbbbbbbbb)")
        #expect(a != b)
        #expect(a == TrialIdentity(settings: settings, profileJSON: "{}", pluginSHA256: [], build: "ntng 0.2.0 (build aaaaaaaaaaaa)"))
        // The identity of a build is the digest of its executable: two files differ, one file agrees with itself.
        #expect(NTNGVersion.of(executableAt: PluginPaths.ntng) == NTNGVersion.of(executableAt: PluginPaths.ntng))
        #expect(NTNGVersion.of(executableAt: PluginPaths.ntng) != NTNGVersion.of(executableAt: PluginPaths.sgdExample))
        #expect(!NTNGVersion.of(executableAt: PluginPaths.ntng).contains("unknown"))
    }

    @Test func meanAndSampleStandardDeviation() {
        // 1, 2, 3, 4: mean 2.5; squares 2.25 + 0.25 + 0.25 + 2.25 = 5; 5 / 3 → sd √(5/3).
        let s = SampleSummary([1, 2, 3, 4])
        #expect(s.count == 4)
        #expect(close(s.mean, 2.5))
        #expect(close(s.standardDeviation, (5.0 / 3).squareRoot()))
    }

    @Test func oneValueHasNoSpreadAndNoValuesHaveNoMean() {
        let one = SampleSummary([4.2])
        #expect(one.mean == 4.2 && one.standardDeviation == nil)
        let none = SampleSummary([Double]())
        #expect(none.count == 0 && none.mean == nil && none.standardDeviation == nil)
    }

    @Test func pairedDifferenceWhoseIntervalContainsZeroIsNotSignificant() {
        // d = [-0.1, -0.2, -0.1]: mean -0.4/3, sd = √(((1/30)² · 2 + (2/30)²) / 2) = √(1/300),
        // half-width = t(0.975, 2) · sd / √3 = 4.302652730 · √(1/900) = 0.143421758.
        let d = PairedDifference(method: [0: 5.0, 1: 5.2, 2: 4.9], reference: [0: 5.1, 1: 5.4, 2: 5.0])
        #expect(d.differences.count == 3)
        #expect(close(d.summary.mean, -0.4 / 3, 1e-12))
        #expect(close(d.summary.standardDeviation, (1.0 / 300).squareRoot(), 1e-12))
        let half = 4.302652730 / 30
        #expect(close(d.interval?.lowerBound, -0.4 / 3 - half, 1e-8))
        #expect(close(d.interval?.upperBound, -0.4 / 3 + half, 1e-8))
        #expect(d.verdict == .notSignificant && !d.isSignificant)
    }

    @Test func pairedDifferenceWhoseIntervalExcludesZeroIsSignificant() {
        // d = [-0.10, -0.12, -0.11]: mean -0.11, sd 0.01, half-width 4.302652730 · 0.01 / √3.
        let d = PairedDifference(differences: [-0.10, -0.12, -0.11])
        let half = 4.302652730 * 0.01 / 3.0.squareRoot()
        #expect(close(d.summary.mean, -0.11, 1e-12))
        #expect(close(d.interval?.lowerBound, -0.11 - half, 1e-8))
        #expect(close(d.interval?.upperBound, -0.11 + half, 1e-8))
        #expect(d.verdict == .better && d.isSignificant)
        // A higher loss is worse; for a score (higher is better) the same numbers are worse too.
        #expect(PairedDifference(differences: [0.10, 0.12, 0.11]).verdict == .worse)
        #expect(PairedDifference(differences: [-0.10, -0.12, -0.11], lowerIsBetter: false).verdict == .worse)
    }

    @Test func pairsOnlyTheSeedsBothFinished() {
        // Seed 2 failed for the method, seed 3 for the reference: only seeds 0 and 1 pair.
        let d = PairedDifference(method: [0: 1.0, 1: 2.0, 3: 9.0], reference: [0: 0.5, 1: 1.0, 2: 7.0])
        #expect(d.differences == [0.5, 1.0])
    }

    @Test func oneSeedGivesNoInterval() {
        let d = PairedDifference(method: [0: 5.0], reference: [0: 5.3])
        #expect(close(d.summary.mean, -0.3, 1e-12))
        #expect(d.interval == nil)
        #expect(d.verdict == .notAvailable && !d.isSignificant)
        #expect(ComparisonTable.difference(d).contains("no CI, n/a"))
    }

    @Test func studentTQuantiles() {
        #expect(close(StudentT.quantile975(degreesOfFreedom: 1), 12.706204736, 1e-9))
        #expect(close(StudentT.quantile975(degreesOfFreedom: 2), 4.302652730, 1e-9))
        #expect(close(StudentT.quantile975(degreesOfFreedom: 10), 2.228138852, 1e-9))
        // Beyond the table: t(0.975, 40) = 2.021075, t(0.975, 120) = 1.979930.
        #expect(close(StudentT.quantile975(degreesOfFreedom: 40), 2.021075, 1e-4))
        #expect(close(StudentT.quantile975(degreesOfFreedom: 120), 1.979930, 1e-4))
        // Continuous across the table's end and decreasing towards the normal quantile.
        #expect(StudentT.quantile975(degreesOfFreedom: 31) < StudentT.quantile975(degreesOfFreedom: 30))
        #expect(StudentT.quantile975(degreesOfFreedom: 100_000) > 1.95996)
    }

    @Test func cellsSayWhatTheNumbersMean() {
        #expect(ComparisonTable.meanStd(SampleSummary([1, 2, 3, 4])) == "2.5000 ± 1.2910")
        #expect(ComparisonTable.meanStd(SampleSummary([4.2])) == "4.2000")
        #expect(ComparisonTable.meanStd(SampleSummary([Double]())) == "–")
        #expect(ComparisonTable.difference(PairedDifference(differences: [-0.10, -0.12, -0.11])) == "-0.1100 [-0.1348, -0.0852] better")
        #expect(ComparisonTable.difference(PairedDifference(differences: [-0.1, -0.2, -0.1])).hasSuffix("n.s."))
        #expect(ComparisonTable.difference(nil) == "–")
    }
}
