import Testing
@testable import Corpus
@Test func placeholder() { #expect(true) }
