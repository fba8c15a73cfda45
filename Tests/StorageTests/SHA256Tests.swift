import Foundation
import Testing
import TestSupport
import Storage

@Suite struct SHA256Tests {
    @Test func nistVectors() {
        #expect(SHA256Digest.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Digest.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func matchesSha256sumOnAPluginFile() throws {
        let expected = try runTool("/usr/bin/env", ["sha256sum", PluginPaths.sgdExample]).split(separator: " ")[0]
        #expect(try SHA256Digest.hex(ofFileAt: PluginPaths.sgdExample) == String(expected))
    }
}
