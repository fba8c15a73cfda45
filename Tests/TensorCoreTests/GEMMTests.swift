import Testing
@testable import TensorCore

@Suite struct GEMMTests {
    func naive(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float],
               alpha: Double, beta: Double, c: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = ta ? a[p * m + i] : a[i * k + p]
                    let bv = tb ? b[j * k + p] : b[p * n + j]
                    sum += Double(av) * Double(bv)
                }
                out[i * n + j] = alpha * sum + beta * Double(c[i * n + j])
            }
        }
        return out
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)], [1, 2])
    func matchesNaiveProduct(transposes: (Bool, Bool), threads: Int) {
        // Large enough to be split across threads along both M (first) and N (second).
        for (m, n, k) in [(150, 90, 170), (40, 300, 200)] {
            let (ta, tb) = transposes
            let a = randomValues(m * k, seed: 1), b = randomValues(k * n, seed: 2), c0 = randomValues(m * n, seed: 3)
            let c = OwnedTensor([m, n], c0)
            withThreads(threads) {
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        GEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5,
                                      a: ap.baseAddress!, lda: ta ? m : k, b: bp.baseAddress!, ldb: tb ? k : n,
                                      beta: 2, c: c.pointer, ldc: n)
                    }
                }
            }
            let expected = naive(ta, tb, m, n, k, a, b, alpha: 0.5, beta: 2, c: c0)
            #expect(maxRelativeError(c.values, expected) < 1e-5)
        }
    }
}

@Suite struct FastMathTests {
    @Test func expIsAccurate() {
        var worst: Double = 0
        for i in 0...20_000 {
            let x = Float(-80 + Double(i) * 0.0084)
            let exact = Foundation_exp(Double(x))
            worst = max(worst, abs(Double(FastMath.exp(x)) - exact) / exact)
        }
        #expect(worst < 5e-7)
        #expect(FastMath.exp(-1000) >= 0 && FastMath.exp(-1000) < 1e-37)
        #expect(FastMath.exp(.nan).isNaN)
    }

    @Test func tanhIsAccurate() {
        var worst: Double = 0
        for i in 0...20_000 {
            let x = -12 + Double(i) * 0.0012
            worst = max(worst, abs(Double(FastMath.tanh(Float(x))) - Foundation_tanh(x)))
        }
        #expect(worst < 2e-6)
    }
}

import Foundation
func Foundation_exp(_ x: Double) -> Double { Foundation.exp(x) }
func Foundation_tanh(_ x: Double) -> Double { Foundation.tanh(x) }
