import Foundation
import Testing
import TestSupport
@testable import Records

@Suite struct SafeTensorsTests {
    @Test func headerBytesMatchTheSpecification() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("tiny.safetensors")
        try SafeTensorsFile.write([.init(name: "t", shape: [2], floats: [1, 2])], metadata: ["format": "pt"], to: url)
        let bytes = [UInt8](try Data(contentsOf: url))

        // Hand-computed: 85 bytes of JSON with sorted keys, padded with 3 spaces to 88 (a multiple of 8).
        let json = #"{"__metadata__":{"format":"pt"},"t":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}"#
        #expect(json.utf8.count == 85)
        let expectedHeader = Array(json.utf8) + [0x20, 0x20, 0x20]
        let expected: [UInt8] = [88, 0, 0, 0, 0, 0, 0, 0] + expectedHeader
            + [0x00, 0x00, 0x80, 0x3F,   // 1.0f little-endian
               0x00, 0x00, 0x00, 0x40]   // 2.0f
        #expect(bytes == expected)
    }

    @Test func roundTripWithMetadataAndSeveralDtypes() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("model.safetensors")
        let weights = (0..<(3 * 5)).map { Float($0) * 0.25 - 1 }
        let moments = [Double.pi, -0.0, 1e-300]
        let position: [Int64] = [Int64.max, -7]
        let rng: [UInt8] = [1, 2, 3]
        let metadata = ["clock": #"{"rstSeconds":12.5}"#, "path": "a/b/c", "unicode": "größe ✓"]
        try SafeTensorsFile.write([
            .init(name: "rng", shape: [3], uint8s: rng),
            .init(name: "encoder.layer.0.weight", shape: [3, 5], floats: weights),
            .init(name: "adam.m", shape: [3], doubles: moments),
            .init(name: "data.position", shape: [2], int64s: position),
            .init(name: "scalar", shape: [], floats: [42]),
            .init(name: "empty", shape: [0, 4], floats: []),
        ], metadata: metadata, to: url)

        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.metadata == metadata)
        #expect(file.headerLength % 8 == 0)
        #expect(try file.array("encoder.layer.0.weight", as: Float.self) == weights)
        #expect(try file.array("adam.m", as: Double.self).map(\.bitPattern) == moments.map(\.bitPattern))
        #expect(try file.array("data.position", as: Int64.self) == position)
        #expect(try file.array("rng", as: UInt8.self) == rng)
        #expect(try file.array("scalar", as: Float.self) == [42])
        #expect(try file.array("empty", as: Float.self) == [])
        #expect(file["encoder.layer.0.weight"]?.shape == [3, 5])
        #expect(file["scalar"]?.shape == [])
        // Larger elements first, then by name: every tensor is naturally aligned.
        #expect(file.names == ["adam.m", "data.position", "empty", "encoder.layer.0.weight", "scalar", "rng"])
        for info in file.tensors { #expect((8 + file.headerLength + info.dataOffsets.lowerBound) % info.dtype.byteSize == 0) }

        #expect(throws: SafeTensorsError.self) { try file.array("adam.m", as: Float.self) }
        #expect(throws: SafeTensorsError.missingTensor(path: url.path, name: "nope")) { try file.bytes(of: "nope") }

        var destination = [Float](repeating: 0, count: 15)
        try destination.withUnsafeMutableBytes { try file.copyBytes(of: "encoder.layer.0.weight", into: $0) }
        #expect(destination == weights)
    }

    @Test func externalStorageAndOverwriteIsAtomic() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try SafeTensorsFile.write([.init(name: "a", shape: [1], floats: [1])], to: url)
        let values: [Float] = [1, 2, 3, 4]
        let entry = SafeTensorsFile.Entry(name: "b", dtype: .F32, shape: [4],
                                          storage: .external(byteCount: 16, provide: { sink in
            try values.withUnsafeBytes { all in
                try sink(UnsafeRawBufferPointer(rebasing: all[0..<8]))   // in two pieces
                try sink(UnsafeRawBufferPointer(rebasing: all[8..<16]))
            }
        }))
        try SafeTensorsFile.write([entry], to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.names == ["b"])
        #expect(try file.array("b", as: Float.self) == values)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.safetensors"])
    }

    @Test func invalidEntriesAreRejectedBeforeWriting() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("bad.safetensors")
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile.write([.init(name: "x", shape: [3], floats: [1, 2])], to: url)
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile.write([.init(name: "x", shape: [1], floats: [1]), .init(name: "x", shape: [1], floats: [2])], to: url)
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile.write([.init(name: "__metadata__", shape: [1], floats: [1])], to: url)
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile.write([.init(name: "x", dtype: .I64, shape: [1], storage: .doubles([1]))], to: url)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func truncatedFilesAreReported() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("whole.safetensors")
        try SafeTensorsFile.write([.init(name: "w", shape: [64], floats: Array(repeating: 1, count: 64))], to: url)
        let whole = try Data(contentsOf: url)

        for cut in [whole.count - 1, whole.count - 200, 20, 5, 0] {
            let truncated = dir.appendingPathComponent("cut-\(cut).safetensors")
            try whole.prefix(cut).write(to: truncated)
            do {
                _ = try SafeTensorsFile(contentsOf: truncated)
                Issue.record("file cut to \(cut) bytes was accepted")
            } catch let error as SafeTensorsError {
                guard case .truncated(let path, _) = error else { Issue.record("cut \(cut): \(error)"); continue }
                #expect(path == truncated.path)
                #expect(error.description.contains("truncated"))
            }
        }
    }

    @Test func corruptHeadersAreReported() throws {
        func image(_ json: String, data: [UInt8]) -> Data {
            var header = Array(json.utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            var length = UInt64(header.count).littleEndian
            return Data(bytes: &length, count: 8) + Data(header) + Data(data)
        }
        let url = URL(fileURLWithPath: "/tmp/x.safetensors")
        let cases: [(String, [UInt8])] = [
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]),          // size mismatch
            (#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, [0]),                    // unknown dtype
            (#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, [0, 0]),                 // gap at start
            (#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, [0, 0]),                 // trailing bytes
            (#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, [0]),                   // negative dim
            (#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, [0]),
            (#"{"__metadata__":{"k":1}}"#, []),                                                  // non-string metadata
            (#"[1,2]"#, []),
            (#"{"a": nonsense}"#, []),
        ]
        for (json, data) in cases {
            #expect(throws: SafeTensorsError.self, "\(json)") { try SafeTensorsFile(data: image(json, data: data), url: url) }
        }
        // A huge header length is corrupt, not an allocation.
        var huge = UInt64(1) << 40
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: Data(bytes: &huge, count: 8) + Data([0x7B]), url: url) }
        // The valid minimum: an empty object.
        let empty = try SafeTensorsFile(data: image("{}", data: []), url: url)
        #expect(empty.tensors.isEmpty)
    }

    @Test func largeTensorRoundTrip() throws {
        // 8 Mi floats (32 MB): exercises the bulk paths without taking long.
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("large.safetensors")
        let count = 8 << 20
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, n in
            for i in 0..<count { buffer[i] = Float(i & 0xFFFF) }
            n = count
        }
        try SafeTensorsFile.write([.init(name: "big", shape: [count], floats: values)], to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(try file.array("big", as: Float.self) == values)
        try? FileManager.default.removeItem(at: dir)
    }
}
