import Foundation
import Records
import Testing
import TestSupport
@testable import Host
@testable import PluginHost

/// `ntng plugin check` and `ntng plugin new`.
@Suite struct PluginCheckerTests {
    @Test(arguments: [PluginPaths.sgdExample, PluginPaths.lrScaleExample, PluginPaths.scheduleFreeExample])
    func examplesPassEveryCheck(path: String) {
        for check in PluginCheck.allCases {
            let result = PluginConformance.run(check, libraryPath: path)
            #expect(result.passed, "\(check): \(result.detail)")
        }
    }

    /// An optimizer that moves tensors without a gradient fails the gradients check (rule G1); the
    /// same plugin that leaves them alone passes, and one without an optimizer is not concerned.
    @Test func movingTensorsWithoutAGradientFailsTheGradientsCheck() throws {
        let mover = PluginConformance.run(.gradients, libraryPath: try buildProbe(["WITH_OPTIMIZER", "MOVE_ALL"]))
        #expect(!mover.passed && mover.detail.contains("G1") && mover.detail.contains("optimizer_step"), "\(mover.detail)")
        #expect(PluginConformance.run(.gradients, libraryPath: try buildProbe(["WITH_OPTIMIZER"])).passed)
        #expect(PluginConformance.run(.gradients, libraryPath: try buildProbe()).detail.contains("not applicable"))
    }

    /// Evaluation weights that differ between two calls fail the evaluation check (rule E1); the
    /// Schedule-Free example passes it.
    @Test func impureEvaluationWeightsFailTheEvaluationCheck() throws {
        let path = try buildCPlugin(impureEvaluator, name: "impure")
        let result = PluginConformance.run(.evaluation, libraryPath: path)
        #expect(!result.passed && result.detail.contains("E1"), "\(result.detail)")
        let sf = PluginConformance.run(.evaluation, libraryPath: PluginPaths.scheduleFreeExample)
        #expect(sf.passed && sf.detail.contains("differ from the training weights"), "\(sf.detail)")
    }

    @Test func nondeterministicStateFailsTheStateCheck() throws {
        let path = try buildProbe(["NONDETERMINISTIC_STATE"])
        let result = PluginConformance.run(.state, libraryPath: path)
        #expect(!result.passed)
        #expect(result.detail.contains("save_state") && result.detail.contains("different bytes"))
    }

    /// A plugin that keeps state but does not save it passes every other check; the resume
    /// check catches it.
    @Test func unsavedStateFailsTheResumeCheck() throws {
        let path = try buildProbe(["FORGET_STATE"])
        #expect(PluginConformance.run(.state, libraryPath: path).passed)
        let result = PluginConformance.run(.resume, libraryPath: path)
        #expect(!result.passed && result.detail.contains("state not saved?") && result.detail.contains("from step 5"), "\(result.detail)")
        #expect(PluginConformance.run(.resume, libraryPath: try buildProbe()).passed)
    }

    /// Lent buffers are poisoned in check mode: reading a previous hook's example_ids fails the
    /// determinism check; writing a previous step's plan fails the hooks check.
    @Test func pointersKeptPastTheirHookAreCaught() throws {
        let reader = PluginConformance.run(.determinism, libraryPath: try buildProbe(["WITH_SELECT", "STALE_IDS"]))
        #expect(!reader.passed && reader.detail.contains("rule O1"), "\(reader.detail)")
        let writer = PluginConformance.run(.hooks, libraryPath: try buildProbe(["STALE_PLAN"]))
        #expect(!writer.passed && writer.detail.contains("wrote into the step plan of on_step after that hook had returned"), "\(writer.detail)")
        // An honest selecting plugin passes both.
        let honest = try buildProbe(["WITH_SELECT"])
        #expect(PluginConformance.run(.determinism, libraryPath: honest).passed)
        #expect(PluginConformance.run(.hooks, libraryPath: honest).passed)
    }

    /// A plugin that writes parameters outside optimizer_step fails the hooks check.
    @Test func parameterWritesOutsideTheOptimizerFailTheHooksCheck() throws {
        let result = PluginConformance.run(.hooks, libraryPath: try buildProbe(["WRITE_PARAMS_ON_STEP"]))
        #expect(!result.passed && result.detail.contains("changed the model's parameters"), "\(result.detail)")
    }

    @Test func brokenPluginFailsTheEntryCheck() throws {
        let path = try buildProbe(["ABI_MAJOR=3"])
        let result = PluginConformance.run(.entry, libraryPath: path)
        #expect(!result.passed && result.detail.contains("abi_major"))
    }

    /// A crash inside a hook is reported by the child-process checker, not suffered.
    @Test func crashInsideAHookIsReported() throws {
        let ntng = PluginPaths.ntng
        try #require(FileManager.default.isExecutableFile(atPath: ntng), "the ntng executable is built beside the tests")
        let path = try buildProbe(["CRASH_ON_STEP"])
        let result = PluginConformance.runIsolated(.hooks, libraryPath: path, command: [ntng, "plugin", "_check-one"], timeout: 60)
        #expect(!result.passed)
        #expect(result.detail.contains("crashed") && result.detail.contains("signal 11")
                && result.detail.contains("inside on_step of plugin test.probe"), "\(result.detail)")
        // And a good plugin passes in the child too.
        let good = PluginConformance.runIsolated(.hooks, libraryPath: PluginPaths.sgdExample, command: [ntng, "plugin", "_check-one"])
        #expect(good.passed, "\(good.detail)")
    }

    /// A plugin that forks a child which never exits, or hangs inside a hook, cannot hang the
    /// checker: each check returns within its timeout and the plugin's processes are killed.
    @Test func forkingOrHangingPluginsCannotHangTheChecker() throws {
        let ntng = PluginPaths.ntng
        try #require(FileManager.default.isExecutableFile(atPath: ntng))
        let pidFile = try makeTemporaryDirectory().appendingPathComponent("pids")
        setenv("NTNG_PROBE_PIDFILE", pidFile.path, 1)
        defer { unsetenv("NTNG_PROBE_PIDFILE") }
        let started = Date()
        let forker = PluginConformance.runIsolated(.hooks, libraryPath: try buildProbe(["FORK_GRANDCHILD"]),
                                                   command: [ntng, "plugin", "_check-one"], timeout: 30)
        #expect(Date().timeIntervalSince(started) < 25, "the checker waited on the grandchild")
        #expect(forker.passed, "\(forker.detail)")
        let pids = try String(contentsOf: pidFile, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!pids.isEmpty)
        usleep(200_000)
        for pid in pids {
            let alive = ProcessIdentity.isRunning(pid: Int(pid))
            #expect(!alive, "the plugin's child \(pid) survived the check")
        }
        let hangStarted = Date()
        let hang = PluginConformance.runIsolated(.hooks, libraryPath: try buildProbe(["HANG_ON_STEP"]),
                                                 command: [ntng, "plugin", "_check-one"], timeout: 2)
        #expect(Date().timeIntervalSince(hangStarted) < 10)
        #expect(!hang.passed && hang.detail.contains("timed out after 2 s"), "\(hang.detail)")
    }

    /// `ntng plugin check` end to end: exit status and report.
    @Test func checkCommandReportsEachCheck() throws {
        let ntng = PluginPaths.ntng
        try #require(FileManager.default.isExecutableFile(atPath: ntng))
        let out = try runTool(ntng, ["plugin", "check", PluginPaths.sgdExample])
        #expect(out.contains("PASS determinism") && out.contains("all checks passed"))
        let crash = try buildProbe(["CRASH_ON_STEP"])
        #expect(throws: ToolFailure.self) { try runTool(ntng, ["plugin", "check", crash]) }
    }

    @Test func cSkeletonBuildsAndPassesTheChecks() throws {
        let header = try String(contentsOf: PluginPaths.include.appendingPathComponent("ntng_plugin.h"), encoding: .utf8)
        let dir = try makeTemporaryDirectory()
        for file in try PluginSkeleton.files(name: "MyMethod", language: .c, header: header) {
            let url = dir.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.contents.write(to: url, atomically: true, encoding: .utf8)
        }
        try runTool("/bin/sh", [dir.appendingPathComponent("build.sh").path])
        let lib = dir.appendingPathComponent("libMyMethod.so").path
        for check in PluginCheck.allCases {
            let result = PluginConformance.run(check, libraryPath: lib)
            #expect(result.passed, "\(check): \(result.detail)")
        }
    }

    @Test func swiftSkeletonBuildsAndPassesTheChecks() throws {
        let header = try String(contentsOf: PluginPaths.include.appendingPathComponent("ntng_plugin.h"), encoding: .utf8)
        let dir = try makeTemporaryDirectory()
        for file in try PluginSkeleton.files(name: "MySwiftMethod", language: .swift, header: header) {
            let url = dir.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.contents.write(to: url, atomically: true, encoding: .utf8)
        }
        try runTool("/bin/sh", [dir.appendingPathComponent("build.sh").path])
        let lib = dir.appendingPathComponent("libMySwiftMethod.so").path
        for check in [PluginCheck.entry, .hooks, .state] {
            let result = PluginConformance.run(check, libraryPath: lib)
            #expect(result.passed, "\(check): \(result.detail)")
        }
    }

    /// Every negative status the skeletons and the shipped C plugins return is explained: the line
    /// before a bare `return NTNG_E_…` calls set_error (or it goes through ntng_fail / fail).
    @Test func skeletonsAndPluginsSayWhyBeforeEveryNegativeReturn() throws {
        var sources = try PluginSkeleton.files(name: "M", language: .c, header: "").filter { $0.path.hasSuffix(".c") }.map { ("skeleton C", $0.contents) }
        sources += try PluginSkeleton.files(name: "M", language: .swift, header: "").filter { $0.path.hasSuffix(".swift") }.map { ("skeleton Swift", $0.contents) }
        let plugins = PluginPaths.root.appendingPathComponent("Plugins")
        for case let url as URL in FileManager.default.enumerator(at: plugins, includingPropertiesForKeys: nil)! where ["c", "swift"].contains(url.pathExtension) {
            sources.append((url.lastPathComponent, try String(contentsOf: url, encoding: .utf8)))
        }
        #expect(sources.count >= 10)
        var checked = 0
        for (name, text) in sources {
            let lines = text.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for (i, line) in lines.enumerated() where line.hasPrefix("return NTNG_E_") && !line.contains("NTNG_E_INVALID }") {
                checked += 1
                #expect(i > 0 && lines[i - 1].contains("set_error"), "\(name): '\(line)' after '\(i > 0 ? lines[i - 1] : "")' says nothing")
            }
        }
        // The skeletons' bare returns (create and the two state streams, in C and Swift) are checked,
        // so the scan cannot pass by matching nothing.
        #expect(checked >= 8, "only \(checked) bare negative returns found")
    }

    @Test func skeletonNamesAreChecked() {
        expectPluginError(["1bad", "a letter followed by"]) { _ = try PluginSkeleton.files(name: "1bad", language: .c, header: "") }
    }
}

/// Writes evaluation weights that change from call to call (a counter in the instance).
private let impureEvaluator = #"""
#include <stdlib.h>
#include <string.h>
#include "ntng_plugin.h"
typedef struct ev { float calls; } ev;
static ntng_status create(const ntng_host *h, void **out) { (void)h; *out = calloc(1, sizeof(ev)); return NTNG_OK; }
static void destroy(void *self) { free(self); }
static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *p) { (void)self; (void)s; (void)p; return NTNG_DECLINED; }
static ntng_status write(void *self, const ntng_step_info *s, float *out, int64_t n) {
  ev *e = (ev *)self; (void)s; (void)n;
  e->calls += 1.0f;
  out[0] += e->calls;
  return NTNG_OK;
}
static const ntng_evaluation_weights_v1 table = {.struct_size = sizeof table, .write = write};
static const void *get_extension(void *self, const char *id) { (void)self; return strcmp(id, NTNG_EXT_EVALUATION_WEIGHTS) ? NULL : &table; }
static const ntng_hooks hooks = {.struct_size = sizeof hooks, .on_step = on_step, .get_extension = get_extension};
static const ntng_descriptor d = {.struct_size = sizeof d, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
  .id = "test.impure", .name = "i", .version = "0", .hooks = &hooks, .create = create, .destroy = destroy};
static const ntng_entry entry = {.struct_size = sizeof entry, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR, .descriptor = &d};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
"""#
