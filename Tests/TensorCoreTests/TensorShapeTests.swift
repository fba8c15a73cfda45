import Testing
@testable import TensorCore

/// Views carry their shape inline; these pin what the kernels read from it.
@Suite struct TensorShapeTests {
    @Test func dimensionsRoundTrip() {
        for dims in [[], [7], [3, 5], [2, 3, 4], [2, 3, 4, 5]] {
            let s = TensorShape(dims)
            #expect(Array(s) == dims)
            #expect(s.rank == dims.count)
            #expect(s.description == "\(dims)")
        }
        let literal = TensorShape([4, 8])
        #expect(literal == TensorShape([4, 8]))
        #expect(literal != TensorShape([4, 8, 1]))
        #expect(literal != TensorShape([8, 4]))
    }

    @Test func replacingChangesOneDimension() {
        let s = TensorShape([6, 2, 9])
        #expect(Array(s.replacing(0, with: 3)) == [3, 2, 9])
        #expect(Array(s.replacing(2, with: 1)) == [6, 2, 1])
        #expect(Array(s) == [6, 2, 9])
    }

    @Test func prefixRowsIsAViewWithFewerRows() {
        let t = OwnedTensor([6, 2, 4], (0..<48).map(Float.init))
        let all = t.tensor.prefixRows(12)
        #expect(all.base == t.tensor.base && Array(all.shape) == [6, 2, 4])
        // Rows flatten every dimension but the last, so half the rows is half the leading one.
        #expect(Array(t.tensor.prefixRows(6).shape) == [3, 2, 4])
        let m = OwnedTensor([12, 4], (0..<48).map(Float.init)).tensor.prefixRows(5)
        #expect(Array(m.shape) == [5, 4])
        #expect(m.rows == 5 && m.columns == 4 && m.count == 20)
        #expect(m.toArray() == (0..<20).map(Float.init))
    }
}
