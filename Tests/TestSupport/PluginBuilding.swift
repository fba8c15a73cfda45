import Foundation
import PluginHost
import Testing

// Building and finding plugins for tests: C plugins compiled on the fly (the probe below breaks
// one rule per -D switch), the shipped plugins next to the test binary, and running tools.

/// Paths the plugin tests need.
public enum PluginPaths {
    /// The repository root (two folders above this file's).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static let include = root.appendingPathComponent("Sources/PluginAPI/include")
    /// The PluginAPI v1.0 header as released, kept to build plugins exactly as v1.0 authors did.
    public static let includeV1_0 = root.appendingPathComponent("Tests/Fixtures/PluginAPI-v1.0")
    /// The build folder: where the test binary, `ntng` and the example plugins are.
    public static let build = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    public static var sgdExample: String { build.appendingPathComponent("libExampleSGDMomentum.so").path }
    public static var lrScaleExample: String { build.appendingPathComponent("libExampleLRScale.so").path }
    public static var ntng: String { build.appendingPathComponent("ntng").path }
}

/// Compiles C source into a plugin with `cc -shared -fPIC -I <include>` (plus `defines` as
/// `-D` flags) in a fresh temporary folder, and returns the library path. `include` is today's
/// header unless a test builds against the frozen v1.0 one.
public func buildCPlugin(_ source: String, defines: [String] = [], name: String = "probe", extraFlags: [String] = [],
                         include: URL = PluginPaths.include) throws -> String {
    let dir = try makeTemporaryDirectory("plugin-\(name)")
    let file = dir.appendingPathComponent("\(name).c")
    try source.write(to: file, atomically: true, encoding: .utf8)
    let output = dir.appendingPathComponent("lib\(name).so").path
    try runTool("/usr/bin/env", ["cc", "-shared", "-fPIC", "-I", include.path] + defines.map { "-D\($0)" }
                    + extraFlags + ["-o", output, file.path])
    return output
}

/// Runs a command, throwing with its output when it fails.
@discardableResult
public func runTool(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = directory }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else {
        throw ToolFailure(message: "\(([executable] + arguments).joined(separator: " ")) failed (\(p.terminationStatus)): \(text)")
    }
    return text
}

public struct ToolFailure: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Asserts that `body` throws a ``PluginError`` whose text contains every fragment.
public func expectPluginError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a PluginError mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch let error as PluginError {
        let text = error.description
        for f in fragments where !text.contains(f) {
            Issue.record("error \"\(text)\" does not mention \"\(f)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a PluginError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// A configurable C plugin for negative tests. Each `-D` switch breaks one thing or turns on one
/// hook; without switches it is a valid plugin with an `on_step` that does nothing.
public let probePluginSource = #"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ntng_plugin.h"

#ifndef ABI_MAJOR
#define ABI_MAJOR NTNG_ABI_MAJOR
#endif
#ifndef ABI_MINOR
#define ABI_MINOR NTNG_ABI_MINOR
#endif
#ifndef DESCRIPTOR_SIZE
#define DESCRIPTOR_SIZE sizeof(ntng_descriptor)
#endif
#ifndef PLUGIN_ID
#define PLUGIN_ID "test.probe"
#endif
#ifndef ALPHA_DEFAULT
#define ALPHA_DEFAULT "1.0"
#endif
#ifndef POOL_FACTOR
#define POOL_FACTOR 2
#endif

typedef struct probe {
  const ntng_host *h; int32_t state; int32_t curvature; uint64_t calls;
  const uint64_t *stale_ids; ntng_step_plan *stale_plan;  /* kept past their hook by STALE_* */
} probe;

static ntng_status create(const ntng_host *h, void **out) {
#ifdef FAIL_CREATE
  h->set_error(h, NTNG_E_INVALID, "probe create refuses");
  return NTNG_E_INVALID;
#endif
#ifdef FORK_GRANDCHILD
  /* A child that outlives every hook, holding the process's inherited output; its pid goes to
   * $NTNG_PROBE_PIDFILE so the test can see it was killed. */
  pid_t child = fork();
  if (child == 0) { for (;;) pause(); }
  const char *pidfile = getenv("NTNG_PROBE_PIDFILE");
  if (pidfile) { FILE *f = fopen(pidfile, "a"); if (f) { fprintf(f, "%d\n", (int)child); fclose(f); } }
#endif
  probe *p = (probe *)calloc(1, sizeof *p);
  p->h = h;
  p->state = h->state_tensor(h, "m", 0.25f);
  p->curvature = h->state_tensor(h, "h", 0.0f);
  *out = p;
  return NTNG_OK;
}
static void destroy(void *self) { free(self); }

static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *plan) {
  probe *p = (probe *)self;
  (void)s;
  p->calls++;
#ifdef DIAGNOSTICS_PER_STEP
  const ntng_diagnostics_v1 *d = (const ntng_diagnostics_v1 *)p->h->get_extension(p->h, NTNG_EXT_DIAGNOSTICS);
  for (int i = 0; d && i < DIAGNOSTICS_PER_STEP; i++) {
    char key[32];
    snprintf(key, sizeof key, "probe.k%d", i);
    d->record(p->h, key, (double)i);
  }
#endif
#ifdef LOG_PER_STEP
  for (int i = 0; i < LOG_PER_STEP; i++) p->h->log(p->h, NTNG_LOG_WARNING, "probe says hello");
#endif
#ifdef FORGET_STATE
  plan->lr_scale = 1.0f + 0.05f * (float)p->calls;  /* later steps depend on the unsaved count */
#endif
#ifdef STALE_PLAN
  if (p->stale_plan) p->stale_plan->lr_scale = 0.5f;  /* the previous step's plan */
  p->stale_plan = plan;
#endif
#ifdef WRITE_PARAMS_ON_STEP
  { ntng_param_info pi; memset(&pi, 0, sizeof pi); pi.struct_size = sizeof pi;
    p->h->param_info(p->h, 0, &pi); pi.value[0] += 1.0f; }
#endif
#ifdef OVERRUN_MASK
  plan->layer_keep[plan->num_layers * plan->micro_batches] = 1;
#endif
#ifdef HANG_ON_STEP
  for (volatile int forever = 1; forever;) {}
#endif
#ifdef CRASH_ON_STEP
  volatile int *nowhere = 0;
  *nowhere = 1;
#endif
#ifdef NAN_LR
  plan->lr_scale = NAN;
#endif
#ifdef NEGATIVE_LR
  plan->lr_scale = -1.0f;
#endif
#ifdef LR_SCALE
  plan->lr_scale = LR_SCALE;
#endif
#ifdef EMPTY_MASK
  memset(plan->layer_keep, 0, (size_t)(plan->num_layers * plan->micro_batches));
#endif
#ifdef DROP_LAYER
  for (int m = 0; m < plan->micro_batches; m++) plan->layer_keep[m * plan->num_layers + DROP_LAYER] = 0;
#endif
#ifdef MASK_BYTE
  plan->layer_keep[0] = MASK_BYTE;
#endif
#ifdef MISUSE_SCORING
  {
    int32_t row = 0;
    float loss = 0;
    ntng_status st = p->h->per_example_loss(p->h, &row, 1, &loss, NULL);
    if (st != NTNG_OK) return st;
  }
#endif
#ifdef FAIL_ON_STEP
  p->h->set_error(p->h, NTNG_E_INVALID, "probe refuses this step");
  return NTNG_E_INVALID;
#endif
#ifdef STATUS_ON_STEP
  return STATUS_ON_STEP;
#endif
  return NTNG_OK;
}

static ntng_status select_batch(void *self, const ntng_step_info *s, const ntng_batch_pool *pool, int32_t *rows) {
  probe *p = (probe *)self;
  (void)s;
#ifdef GARBAGE_ROWS
  for (int i = 0; i < pool->n_select; i++) rows[i] = 1000 + i;
  return NTNG_OK;
#endif
#ifdef STALE_IDS
  /* Reads the previous call's example_ids, which the host lent only for that call. */
  if (p->stale_ids) {
    int offset = (int)(p->stale_ids[0] % (uint64_t)pool->n_candidates);
    for (int i = 0; i < pool->n_select; i++) rows[i] = (i + offset) % pool->n_candidates;
    p->stale_ids = pool->example_ids;
    return NTNG_OK;
  }
  p->stale_ids = pool->example_ids;
#endif
#ifdef OVERRUN_ROWS
  for (int i = 0; i <= pool->n_select; i++) rows[i] = i;  /* one past the end */
  return NTNG_OK;
#endif
#ifdef DUPLICATE_ROWS
  for (int i = 0; i < pool->n_select; i++) rows[i] = 0;
  return NTNG_OK;
#endif
#ifdef SHORT_ROWS
  rows[0] = 0;
  return NTNG_OK;
#endif
  /* Score every candidate and keep the n_select highest losses, in descending order. */
  int n = pool->n_candidates;
  int32_t *all = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
  float *loss = (float *)malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < n; i++) all[i] = i;
  ntng_status st = p->h->per_example_loss(p->h, all, n, loss, NULL);
  if (st != NTNG_OK) { free(all); free(loss); return st; }
  for (int k = 0; k < pool->n_select; k++) {
    int best = -1;
    for (int i = 0; i < n; i++) if (all[i] >= 0 && (best < 0 || loss[i] > loss[best])) best = i;
    rows[k] = best;
    all[best] = -1;
  }
  free(all);
  free(loss);
  return NTNG_OK;
}
static int32_t pool_factor(void *self) { (void)self; return POOL_FACTOR; }

static ntng_status resize_model(void *self, const ntng_step_info *s, ntng_resize_plan *plan) {
  (void)self;
#ifdef RESIZE_OUT_OF_RANGE
  plan->new_num_layers = 2;
  plan->source_layer[0] = 0;
  plan->source_layer[1] = 99;
  return NTNG_OK;
#endif
#ifdef RESIZE_TOO_DEEP
  plan->new_num_layers = plan->max_layers + 1;
  return NTNG_OK;
#endif
  /* Stacking in miniature: one layer at step 0, doubled at step 2. */
  if (s->step == 0 && plan->current_layers > 1) {
    plan->new_num_layers = 1;
    plan->source_layer[0] = 0;
    return NTNG_OK;
  }
  if (s->step == 2 && plan->current_layers * 2 <= plan->max_layers) {
    plan->new_num_layers = plan->current_layers * 2;
    for (int i = 0; i < plan->new_num_layers; i++) plan->source_layer[i] = i % plan->current_layers;
    return NTNG_OK;
  }
  return NTNG_DECLINED;
}

static ntng_status optimizer_step(void *self, const ntng_step_info *s, const ntng_optimizer_args *a) {
  probe *p = (probe *)self;
  const ntng_host *h = p->h;
  (void)s;
  ntng_model_info mi; memset(&mi, 0, sizeof mi); mi.struct_size = sizeof mi;
  h->get_model_info(h, &mi);
#ifdef CURVATURE
  if (h->sampled_label_gradient(h, p->curvature) != NTNG_OK) return NTNG_E_INTERNAL;
#endif
#ifdef HEAVY_EVERY
  /* Every HEAVY_EVERY-th update does 20 ms of extra work (a periodic refresh). */
  if (++p->calls % HEAVY_EVERY == 0) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { clock_gettime(CLOCK_MONOTONIC, &t1); } while ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6 < 20.0);
  }
#endif
  for (int32_t i = 0; i < mi.num_params; i++) {
    ntng_param_info pi; memset(&pi, 0, sizeof pi); pi.struct_size = sizeof pi;
    h->param_info(h, i, &pi);
    for (int64_t j = 0; j < pi.count; j++) pi.value[j] -= a->lr * pi.grad[j];
#ifdef MOVE_ALL
    pi.value[0] += 1e-3f;  /* every tensor, with a gradient or not (breaks rule G1) */
#endif
  }
#ifdef NAN_PARAM
  ntng_param_info pi; memset(&pi, 0, sizeof pi); pi.struct_size = sizeof pi;
  h->param_info(h, 0, &pi);
  pi.value[3] = NAN;
#endif
  return NTNG_OK;
}

static ntng_status save_state(void *self, const ntng_ostream *out) {
  probe *p = (probe *)self;
#ifdef NONDETERMINISTIC_STATE
  static uint64_t counter = 0;
  counter++;
  return out->write(out, &counter, 8) == 8 ? NTNG_OK : NTNG_E_IO;
#endif
#ifdef FORGET_STATE
  (void)p; (void)out;
  return NTNG_OK;  /* keeps `calls` privately but saves nothing */
#endif
  return out->write(out, &p->calls, 8) == 8 ? NTNG_OK : NTNG_E_IO;
}
static ntng_status load_state(void *self, const ntng_istream *in) {
  probe *p = (probe *)self;
#ifdef FORGET_STATE
  (void)p; (void)in;
  return NTNG_OK;
#endif
  return in->read(in, &p->calls, 8) == 8 ? NTNG_OK : NTNG_E_IO;
}

#ifdef WITH_SELECT
#define SELECT select_batch
#define POOL pool_factor
#else
#define SELECT NULL
#define POOL NULL
#endif
#ifdef WITH_RESIZE
#define RESIZE resize_model
#else
#define RESIZE NULL
#endif
#ifdef WITH_OPTIMIZER
#define OPTIMIZER optimizer_step
#else
#define OPTIMIZER NULL
#endif

static const ntng_hooks hooks = {sizeof(ntng_hooks), NULL, NULL, RESIZE, NULL, on_step, SELECT, POOL,
                                 OPTIMIZER, save_state, load_state, NULL};
static const ntng_config_key alpha = {sizeof(ntng_config_key), NTNG_CONFIG_DOUBLE, "alpha", ALPHA_DEFAULT, "a number"};
static const ntng_config_key *const keys[] = {&alpha, NULL};
#ifdef REQUIRE_EXTENSION
static const char *const required[] = {"ntng.ops/1", NULL};
#elif defined(REQUIRE_DIAGNOSTICS)
static const char *const required[] = {NTNG_EXT_DIAGNOSTICS, NULL};
#else
static const char *const *const required = NULL;
#endif
static const ntng_descriptor descriptor = {DESCRIPTOR_SIZE, ABI_MAJOR, ABI_MINOR, PLUGIN_ID, "Probe", "0.0.1",
                                           "negative-test probe", keys, required, &hooks, create, destroy};
static const ntng_entry entry = {sizeof(ntng_entry), ABI_MAJOR, ABI_MINOR, NULL, &descriptor};

#ifdef NO_ENTRY
NTNG_EXPORT const ntng_entry *some_other_name(void) { return &entry; }
#else
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
#endif
"""#

/// Builds the probe plugin with `defines`.
public func buildProbe(_ defines: [String] = [], id: String? = nil) throws -> String {
    try buildCPlugin(probePluginSource, defines: defines + (id.map { ["PLUGIN_ID=\"\($0)\""] } ?? []), extraFlags: ["-lm"])
}

/// A built method plugin (`libLion.so`, `libRHO.so`, …): next to the test binary.
public func methodPluginPath(_ product: String) -> String {
    PluginPaths.build.appendingPathComponent("lib\(product).so").path
}

/// The six reference methods' library products.
public let methodProducts = ["Stacking", "Dropping", "SelectiveBackprop", "RHO", "Lion", "Sophia"]

extension PluginPaths {
    /// The Schedule-Free AdamW example (PluginAPI v1.1 evaluation weights).
    public static var scheduleFreeExample: String { build.appendingPathComponent("libExampleScheduleFree.so").path }
}

extension PluginPaths {
    /// The Rust example (scripts/rust-example builds it when cargo is installed).
    public static var rustExample: String { root.appendingPathComponent(".build/rust-example/release/libntng_example_ema.so").path }
    public static var rustExampleBuilt: Bool { FileManager.default.fileExists(atPath: rustExample) }
}
