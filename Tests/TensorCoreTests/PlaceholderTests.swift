import Testing
@testable import TensorCore
@Test func placeholder() { #expect(true) }
