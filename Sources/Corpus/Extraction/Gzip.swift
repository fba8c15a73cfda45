import CZlib
import Foundation
import Storage

/// Decompression through zlib: gzip files (including dictzip `.dict.dz`, which is gzip with an
/// extra header field) and raw zlib streams (R's lazy-load databases).
enum Gzip {
    /// True when the data starts with the gzip magic bytes.
    static func isGzip(_ data: Data) -> Bool { data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b }

    /// Inflates a whole gzip file (all members) or, with `zlibHeader`, one zlib stream.
    /// Returns the output and the number of input bytes consumed.
    static func inflate(_ input: UnsafeRawBufferPointer, zlibHeader: Bool = false) throws -> (Data, Int) {
        var stream = z_stream()
        // 15 + 32: detect gzip or zlib headers automatically; 15 alone: zlib only.
        let windowBits: Int32 = zlibHeader ? 15 : 15 + 32
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CorpusError.extractionFailed(source: "zlib", reason: "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 18
        var buffer = [UInt8](repeating: 0, count: chunk)
        var consumed = 0
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count > 0 else { return (output, 0) }
        stream.next_in = UnsafeMutablePointer(mutating: base)
        stream.avail_in = UInt32(input.count)
        while true {
            let status: Int32 = buffer.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(chunk)
                let s = CZlib.inflate(&stream, Z_NO_FLUSH)
                output.append(out.baseAddress!, count: chunk - Int(stream.avail_out))
                return s
            }
            if status == Z_STREAM_END {
                consumed = input.count - Int(stream.avail_in)
                // A gzip file may hold several members back to back: continue with the next one.
                if !zlibHeader && stream.avail_in > 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b {
                    inflateReset(&stream)
                    continue
                }
                break
            }
            if status != Z_OK {
                throw CorpusError.extractionFailed(source: "zlib", reason: "corrupt compressed data (zlib status \(status))")
            }
            if stream.avail_in == 0 && stream.avail_out != 0 {
                throw CorpusError.extractionFailed(source: "zlib", reason: "truncated compressed data")
            }
        }
        return (output, consumed)
    }

    /// Reads a file, inflating it when it is gzip'd (by content, not by name).
    static func readMaybeCompressed(_ url: URL) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CorpusError.unreadableFile(path: url.path, reason: FileErrorText.describe(error))
        }
        guard isGzip(data) else { return data }
        return try data.withUnsafeBytes { try inflate($0).0 }
    }
}
