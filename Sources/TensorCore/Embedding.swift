import Foundation

/// Token embedding plus crammed BERT's scaled sinusoidal positions:
/// `out[b, s] = table[token[b, s]] + scale · sinusoid[s]`, with `scale` a learned scalar.
public enum Embedding {
    /// The fixed `[sequence, hidden]` sinusoid table (sin on even columns, cos on odd ones).
    public static func fillSinusoids(_ table: Tensor) {
        let s = table.rows, h = table.columns
        for position in 0..<s {
            for i in stride(from: 0, to: h, by: 2) {
                let angle = Double(position) * Foundation.exp(-Double(i) * Foundation.log(10_000.0) / Double(h))
                table.base[position * h + i] = Float(Foundation.sin(angle))
                if i + 1 < h { table.base[position * h + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
    }

    public static func forward(
        tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
        table: Tensor, sinusoids: Tensor, positionScale: Tensor, output: Tensor
    ) {
        let h = table.columns, w = table.base, p = sinusoids.base, y = output.base
        let scale = positionScale.base[0]
        ComputeThreads.forEachChunk(of: rows, grain: 64) { _, range in
            for t in range {
                let row = w + Int(tokens[t]) * h, pos = p + (t % sequence) * h, out = y + t * h
                for j in 0..<h { out[j] = row[j] + scale * pos[j] }
            }
        }
    }

    /// Accumulates into `dTable` (rows of the tokens seen) and `dPositionScale`.
    public static func backward(
        dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
        sinusoids: Tensor, dTable: Tensor, dPositionScale: Tensor
    ) {
        let h = dTable.columns, dy = dOutput.base, dw = dTable.base, p = sinusoids.base
        // Repeated tokens scatter into the same row, so threads own column ranges, not rows.
        ComputeThreads.forEachChunk(of: h, grain: 16) { _, cols in
            for t in 0..<rows {
                let src = dy + t * h, dst = dw + Int(tokens[t]) * h
                for j in cols { dst[j] += src[j] }
            }
        }
        var total: Double = 0
        for t in 0..<rows {
            let src = dy + t * h, pos = p + (t % sequence) * h
            var partial: Float = 0
            for j in 0..<h { partial += src[j] * pos[j] }
            total += Double(partial)
        }
        dPositionScale.base[0] += Float(total)
    }
}

extension Embedding {
    /// A plain token lookup, `out[t] = table[token[t]]` (T5: no position embedding, no scaling).
    public static func lookup(tokens: UnsafePointer<Int32>, rows: Int, table: Tensor, output: Tensor) {
        let h = table.columns, w = table.base, y = output.base
        ComputeThreads.forEachChunk(of: rows, grain: 64) { _, range in
            for t in range { (y + t * h).update(from: w + Int(tokens[t]) * h, count: h) }
        }
    }

    /// Backward of ``lookup(tokens:rows:table:output:)``: accumulates into the rows of `dTable`
    /// of the tokens seen.
    public static func lookupBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, dTable: Tensor) {
        let h = dTable.columns, dy = dOutput.base, dw = dTable.base
        // Repeated tokens scatter into the same row, so threads own column ranges, not rows.
        ComputeThreads.forEachChunk(of: h, grain: 16) { _, cols in
            for t in 0..<rows {
                let src = dy + t * h, dst = dw + Int(tokens[t]) * h
                for j in cols { dst[j] += src[j] }
            }
        }
    }
}
