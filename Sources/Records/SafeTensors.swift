import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Storage

/// Element types of the safetensors format (names as in the format's header).
public enum SafeTensorsDType: String, Codable, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

/// Swift element types that map one-to-one onto a safetensors dtype (little-endian hosts).
public protocol SafeTensorsScalar: BitwiseCopyable {
    /// The matching dtype.
    static var safeTensorsDType: SafeTensorsDType { get }
}

extension Float: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .F32 } }
extension Double: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .F64 } }
extension Int64: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .I64 } }
extension Int32: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .I32 } }
extension UInt64: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .U64 } }
extension UInt32: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .U32 } }
extension UInt8: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .U8 } }
extension Int8: SafeTensorsScalar { public static var safeTensorsDType: SafeTensorsDType { .I8 } }

#if _endian(big)
#error("the safetensors format is little-endian; SafeTensorsFile copies bytes as they are in memory")
#endif

/// Reading and writing the safetensors format.
///
/// Layout (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian unsigned
/// header length `N`; `N` bytes of UTF-8 JSON mapping each tensor name to
/// `{"dtype": …, "shape": […], "data_offsets": [begin, end]}` plus an optional `"__metadata__"`
/// string→string map; then the data buffer, with offsets relative to its start. The writer pads the
/// header with spaces so that `N` is a multiple of 8 (the data buffer starts 8-byte aligned) and
/// lays tensors out by decreasing element size, then name, so that every tensor is naturally
/// aligned and the bytes do not depend on the order tensors were passed in.
///
/// Reading memory-maps the file and validates the header: known dtypes, non-negative shapes,
/// offsets that match `shape × dtype` and tile the buffer exactly. Element bytes are copied with a
/// single `memcpy`, never element by element.
public struct SafeTensorsFile: Sendable {
    /// Header entry of one stored tensor.
    public struct TensorInfo: Sendable, Equatable {
        /// Tensor name (any string except `__metadata__`).
        public let name: String
        /// Element type.
        public let dtype: SafeTensorsDType
        /// Dimensions; `[]` is a scalar.
        public let shape: [Int]
        /// Byte range within the data buffer.
        public let dataOffsets: Range<Int>

        /// Number of elements (product of `shape`).
        public var elementCount: Int { shape.reduce(1, *) }
        /// Number of bytes.
        public var byteCount: Int { dataOffsets.count }
    }

    /// What to write for one tensor: name, dtype, shape, and where its bytes come from.
    public struct Entry {
        /// How an entry provides its bytes. Arrays are stored by reference (copy-on-write), so no
        /// copy is made before the write.
        public enum Storage {
            case bytes(Data)
            case floats([Float])
            case doubles([Double])
            case int64s([Int64])
            case uint8s([UInt8])
            /// Bytes owned elsewhere (e.g. a tensor buffer): `byteCount` bytes, which `provide`
            /// hands to the sink in one or more consecutive pieces during the write.
            case external(byteCount: Int, provide: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void)
        }

        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        public let storage: Storage

        /// An entry with explicit dtype and storage (checked when written).
        public init(name: String, dtype: SafeTensorsDType, shape: [Int], storage: Storage) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.storage = storage
        }

        /// An entry from raw little-endian bytes.
        public init(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: Data) {
            self.init(name: name, dtype: dtype, shape: shape, storage: .bytes(bytes))
        }

        /// An F32 entry.
        public init(name: String, shape: [Int], floats: [Float]) {
            self.init(name: name, dtype: .F32, shape: shape, storage: .floats(floats))
        }

        /// An F64 entry.
        public init(name: String, shape: [Int], doubles: [Double]) {
            self.init(name: name, dtype: .F64, shape: shape, storage: .doubles(doubles))
        }

        /// An I64 entry.
        public init(name: String, shape: [Int], int64s: [Int64]) {
            self.init(name: name, dtype: .I64, shape: shape, storage: .int64s(int64s))
        }

        /// A U8 entry.
        public init(name: String, shape: [Int], uint8s: [UInt8]) {
            self.init(name: name, dtype: .U8, shape: shape, storage: .uint8s(uint8s))
        }

        var byteCount: Int {
            switch storage {
            case .bytes(let d): return d.count
            case .floats(let a): return a.count * 4
            case .doubles(let a): return a.count * 8
            case .int64s(let a): return a.count * 8
            case .uint8s(let a): return a.count
            case .external(let n, _): return n
            }
        }

        var storageDType: SafeTensorsDType? {
            switch storage {
            case .floats: return .F32
            case .doubles: return .F64
            case .int64s: return .I64
            case .uint8s: return .U8
            case .bytes, .external: return nil
            }
        }

        /// Hands the entry's bytes to `sink`, in order (what the file will hold).
        public func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            switch storage {
            case .bytes(let d): try d.withUnsafeBytes { try sink($0) }
            case .floats(let a): try a.withUnsafeBytes { try sink($0) }
            case .doubles(let a): try a.withUnsafeBytes { try sink($0) }
            case .int64s(let a): try a.withUnsafeBytes { try sink($0) }
            case .uint8s(let a): try a.withUnsafeBytes { try sink($0) }
            case .external(_, let provide): try provide(sink)
            }
        }
    }

    /// The file this was read from.
    public let url: URL
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensors in data-buffer order.
    public let tensors: [TensorInfo]
    /// Length of the JSON header in bytes (`N`).
    public let headerLength: Int

    private let file: Data
    private let dataStart: Int
    private let index: [String: Int]

    /// The tensor names in data-buffer order.
    public var names: [String] { tensors.map(\.name) }

    /// The header entry for `name`, if stored.
    public subscript(name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    // MARK: - Reading

    /// Opens and validates a safetensors file (memory-mapped; the file must not be modified in place
    /// while open — ``write(_:metadata:to:)`` replaces files by rename, which is safe).
    /// - Throws: ``SafeTensorsError`` naming the file when it is missing, truncated or corrupt.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw SafeTensorsError.fileMissing(path: url.path) }
            throw SafeTensorsError.io(path: url.path, detail: FileErrorText.describe(error))
        }
        try self.init(data: data, url: url)
    }

    /// Parses an in-memory safetensors image (`url` is used in error messages).
    public init(data: Data, url: URL) throws {
        func corrupt(_ detail: String) -> SafeTensorsError { .corrupt(path: url.path, detail: detail) }
        func truncated(_ detail: String) -> SafeTensorsError { .truncated(path: url.path, detail: detail) }

        guard data.count >= 8 else {
            throw truncated("file has \(data.count) bytes, fewer than the 8-byte header length")
        }
        let n64 = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        // Same cap as the reference implementation: a longer header is a corrupt length field.
        guard n64 <= 100_000_000 else { throw corrupt("header length \(n64) is implausibly large") }
        let n = Int(n64)
        guard n >= 2 else { throw corrupt("header length \(n) is too small for a JSON object") }
        guard 8 + n <= data.count else {
            throw truncated("header needs \(n) bytes but only \(data.count - 8) follow the length field")
        }
        let headerBytes = data[data.startIndex + 8 ..< data.startIndex + 8 + n]
        guard headerBytes.first == UInt8(ascii: "{") else { throw corrupt("header does not start with '{'") }

        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw corrupt("header is not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw corrupt("header is not a JSON object") }

        var metadata: [String: String] = [:]
        var infos: [TensorInfo] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in map {
                    guard let s = v as? String else { throw corrupt("__metadata__[\(k)] is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw corrupt("entry \"\(name)\" is not an object") }
            guard let dtypeName = entry["dtype"] as? String else { throw corrupt("tensor \"\(name)\" has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw corrupt("tensor \"\(name)\" has unknown dtype \"\(dtypeName)\"")
            }
            guard let shape = Self.integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw corrupt("tensor \"\(name)\" has no valid shape")
            }
            guard let offsets = Self.integers(entry["data_offsets"]), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw corrupt("tensor \"\(name)\" has invalid data_offsets")
            }
            var expected = dtype.byteSize
            for dim in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw corrupt("tensor \"\(name)\" shape \(shape) overflows") }
                expected = product
            }
            guard offsets[1] - offsets[0] == expected else {
                throw corrupt("tensor \"\(name)\" (\(dtype.rawValue) \(shape)) needs \(expected) bytes "
                              + "but data_offsets span \(offsets[1] - offsets[0])")
            }
            infos.append(TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: offsets[0] ..< offsets[1]))
        }

        // Offsets must tile the data buffer: sorted by start, each begins where the previous ended.
        infos.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name)
                     < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        let bufferLength = data.count - 8 - n
        var position = 0
        for info in infos {
            guard info.dataOffsets.lowerBound == position else {
                throw corrupt("tensor \"\(info.name)\" starts at byte \(info.dataOffsets.lowerBound) "
                              + "of the data buffer, expected \(position) (overlap or gap)")
            }
            position = info.dataOffsets.upperBound
        }
        if position > bufferLength {
            throw truncated("tensors need \(position) data bytes but the file holds \(bufferLength)")
        }
        if position < bufferLength {
            throw corrupt("\(bufferLength - position) bytes after the last tensor are not described by the header")
        }

        self.url = url
        self.metadata = metadata
        self.tensors = infos
        self.headerLength = n
        self.file = data
        self.dataStart = 8 + n
        self.index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($0.element.name, $0.offset) })
    }

    /// JSON arrays of integers arrive as NSNumber arrays; reject fractions and non-numbers.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            // JSON booleans also arrive as NSNumber (objCType "c"); `is Bool` is true for 0 and 1 too.
            guard let number = element as? NSNumber else { return nil }
            let objCType = String(cString: number.objCType)
            guard objCType != "c", objCType != "B" else { return nil }
            let double = number.doubleValue
            guard double.rounded() == double, abs(double) < 9.0e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    private func info(_ name: String) throws -> TensorInfo {
        guard let info = self[name] else { throw SafeTensorsError.missingTensor(path: url.path, name: name) }
        return info
    }

    /// Calls `body` with the stored bytes of tensor `name` (valid only inside `body`).
    public func withUnsafeBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try info(name)
        return try file.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[(dataStart + info.dataOffsets.lowerBound)
                                                          ..< (dataStart + info.dataOffsets.upperBound)]))
        }
    }

    /// A copy of the stored bytes of tensor `name`.
    public func bytes(of name: String) throws -> Data {
        try withUnsafeBytes(of: name) { Data($0) }
    }

    /// The elements of tensor `name`, which must be stored as `T`'s dtype.
    public func array<T: SafeTensorsScalar>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        let info = try info(name)
        guard info.dtype == T.safeTensorsDType else {
            throw SafeTensorsError.dtypeMismatch(path: url.path, name: name, stored: info.dtype, requested: T.safeTensorsDType)
        }
        let count = info.elementCount
        return try withUnsafeBytes(of: name) { source in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { memcpy(buffer.baseAddress!, source.baseAddress!, count * MemoryLayout<T>.stride) }
                initialized = count
            }
        }
    }

    /// Copies tensor `name` into `destination`, which must have exactly its byte count
    /// (for loading straight into an existing parameter buffer).
    public func copyBytes(of name: String, into destination: UnsafeMutableRawBufferPointer) throws {
        try withUnsafeBytes(of: name) { source in
            guard source.count == destination.count else {
                throw SafeTensorsError.sizeMismatch(path: url.path, name: name, stored: source.count, requested: destination.count)
            }
            if source.count > 0 { destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count) }
        }
    }

    // MARK: - Writing

    /// The header bytes (JSON, space-padded to a multiple of 8) for tensors laid out as given.
    ///
    /// Keys are sorted and slashes are not escaped, so the header is deterministic.
    static func headerBytes(for layout: [TensorInfo], metadata: [String: String]) throws -> [UInt8] {
        var object: [String: Any] = [:]
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        for info in layout {
            object[info.name] = [
                "dtype": info.dtype.rawValue,
                "shape": info.shape,
                "data_offsets": [info.dataOffsets.lowerBound, info.dataOffsets.upperBound],
            ] as [String: Any]
        }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        while bytes.count % 8 != 0 { bytes.append(UInt8(ascii: " ")) }
        return bytes
    }

    /// Writes `tensors` and `metadata` to `url` atomically (``AtomicFile``): a crash leaves either
    /// the old file or the new one, never a torn file.
    ///
    /// - Throws: ``SafeTensorsError/invalidEntry(name:detail:)`` for a duplicate or reserved name,
    ///   a negative dimension, or a byte count that does not match `shape × dtype`;
    ///   `CorpusError.unwritableFile` naming the file when writing fails (the temporary file is removed).
    public static func write(_ tensors: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        // Validate everything before touching the disk.
        var seen = Set<String>()
        for entry in tensors {
            func invalid(_ detail: String) -> SafeTensorsError { .invalidEntry(name: entry.name, detail: detail) }
            guard entry.name != "__metadata__" else { throw invalid("the name __metadata__ is reserved") }
            guard seen.insert(entry.name).inserted else { throw invalid("duplicate tensor name") }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("negative dimension in \(entry.shape)") }
            if let storageDType = entry.storageDType, storageDType != entry.dtype {
                throw invalid("storage holds \(storageDType.rawValue) elements but dtype is \(entry.dtype.rawValue)")
            }
            var expected = entry.dtype.byteSize
            for dim in entry.shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw invalid("shape \(entry.shape) overflows") }
                expected = product
            }
            guard entry.byteCount == expected else {
                throw invalid("\(entry.dtype.rawValue) \(entry.shape) needs \(expected) bytes, storage has \(entry.byteCount)")
            }
        }

        let ordered = tensors.sorted { a, b in
            a.dtype.byteSize != b.dtype.byteSize ? a.dtype.byteSize > b.dtype.byteSize : a.name < b.name
        }
        var layout: [TensorInfo] = []
        var offset = 0
        for entry in ordered {
            layout.append(TensorInfo(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                                     dataOffsets: offset ..< offset + entry.byteCount))
            offset += entry.byteCount
        }
        let header = try headerBytes(for: layout, metadata: metadata)

        try AtomicFile.write(to: url) { output in
            var length = UInt64(header.count).littleEndian
            try Swift.withUnsafeBytes(of: &length) { try output($0) }
            try header.withUnsafeBytes { try output($0) }
            for (entry, info) in zip(ordered, layout) {
                var written = 0
                try entry.write { piece in
                    written += piece.count
                    guard written <= info.byteCount else {
                        throw SafeTensorsError.invalidEntry(name: entry.name, detail: "provided more bytes than declared")
                    }
                    try output(piece)
                }
                guard written == info.byteCount else {
                    throw SafeTensorsError.invalidEntry(
                        name: entry.name, detail: "provided \(written) bytes, declared \(info.byteCount)")
                }
            }
        }
    }
}

/// Why a safetensors file could not be read or written. Messages name the file.
public enum SafeTensorsError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    case fileMissing(path: String)
    /// The file ends before the header or the tensors it describes.
    case truncated(path: String, detail: String)
    /// The header is malformed or inconsistent with the data.
    case corrupt(path: String, detail: String)
    case missingTensor(path: String, name: String)
    case dtypeMismatch(path: String, name: String, stored: SafeTensorsDType, requested: SafeTensorsDType)
    case sizeMismatch(path: String, name: String, stored: Int, requested: Int)
    /// A tensor passed to the writer is inconsistent.
    case invalidEntry(name: String, detail: String)
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .fileMissing(let path): return "safetensors file not found: \(path)"
        case .truncated(let path, let detail):
            return "safetensors file \(path) is truncated: \(detail) (an interrupted copy? use an earlier checkpoint)"
        case .corrupt(let path, let detail): return "safetensors file \(path) is corrupt: \(detail)"
        case .missingTensor(let path, let name): return "safetensors file \(path) has no tensor \"\(name)\""
        case .dtypeMismatch(let path, let name, let stored, let requested):
            return "tensor \"\(name)\" in \(path) is \(stored.rawValue), not \(requested.rawValue)"
        case .sizeMismatch(let path, let name, let stored, let requested):
            return "tensor \"\(name)\" in \(path) has \(stored) bytes, destination has \(requested)"
        case .invalidEntry(let name, let detail): return "cannot write tensor \"\(name)\": \(detail)"
        case .io(let path, let detail): return "cannot write \(path): \(detail)"
        }
    }

    public var errorDescription: String? { description }
}
