import TestSupport
import Foundation
import Testing

/// Every reference method exports exactly one function, the ABI's entry point: everything else
/// is built with hidden visibility, so plugins cannot clash with each other or the host.
@Suite struct MethodExportsTests {
    @Test(arguments: methodProducts) func exportsOnlyTheEntryPoint(product: String) throws {
        let table = try runTool("/usr/bin/env", ["nm", "-D", "--defined-only", methodPluginPath(product)])
        let functions = table.split(separator: "\n").filter { $0.contains(" T ") }.map { String($0.split(separator: " ").last!) }
        #expect(functions == ["ntng_get_entry_v1"], "lib\(product).so exports \(functions)")
    }
}
