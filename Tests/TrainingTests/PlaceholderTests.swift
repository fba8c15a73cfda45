import Testing
@testable import Training
@Test func placeholder() { #expect(true) }
