import Testing
@testable import Models
@Test func placeholder() { #expect(true) }
