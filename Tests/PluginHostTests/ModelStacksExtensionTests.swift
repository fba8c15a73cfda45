import Foundation
import Testing
import TestSupport
import PluginAPI
@testable import PluginHost

/// A C plugin that reads "ntng.model_stacks/1" in create and logs what it sees, including the
/// refusals of a bad index and of an undersized struct.
private let stacksReader = #"""
#include <stdio.h>
#include "ntng_plugin.h"

static ntng_status create(const ntng_host *h, void **out) {
  const ntng_model_stacks_v1 *ext = (const ntng_model_stacks_v1 *)h->get_extension(h, NTNG_EXT_MODEL_STACKS);
  if (!ext) { h->set_error(h, NTNG_E_UNSUPPORTED, "no model stacks"); return NTNG_E_UNSUPPORTED; }
  char line[200];
  int32_t n = ext->count(h);
  for (int32_t i = 0; i < n; i++) {
    ntng_stack_info s = {.struct_size = sizeof s};
    if (ext->stack(h, i, &s) != NTNG_OK) return NTNG_E_INTERNAL;
    snprintf(line, sizeof line, "stack %d of %d: %s layers=%d max=%d first=%d resizable=%d", i, n, s.name,
             s.num_layers, s.max_layers, s.first_layer, s.resizable);
    h->log(h, NTNG_LOG_INFO, line);
  }
  ntng_stack_info bad = {.struct_size = sizeof bad};
  snprintf(line, sizeof line, "index %d: %d", n, ext->stack(h, n, &bad));
  h->log(h, NTNG_LOG_INFO, line);
  ntng_stack_info small = {.struct_size = 8};
  snprintf(line, sizeof line, "small: %d", ext->stack(h, 0, &small));
  h->log(h, NTNG_LOG_INFO, line);
  static int instance;
  *out = &instance;
  return NTNG_OK;
}
static void destroy(void *self) { (void)self; }
static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *plan) {
  (void)self; (void)s; (void)plan;
  return NTNG_OK;
}

static const ntng_hooks hooks = {.struct_size = sizeof(ntng_hooks), .on_step = on_step};
static const char *const required[] = {NTNG_EXT_MODEL_STACKS, NULL};
static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor), .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
    .id = "test.stacks", .name = "Stacks reader", .version = "1", .description = "reads ntng.model_stacks/1",
    .required_extensions = required, .hooks = &hooks, .create = create, .destroy = destroy};
static const ntng_entry entry = {.struct_size = sizeof(ntng_entry), .abi_major = NTNG_ABI_MAJOR,
                                 .abi_minor = NTNG_ABI_MINOR, .descriptor = &descriptor};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
"""#

@Suite struct ModelStacksExtensionTests {
    /// The host serves the model as named stacks, so a plugin may require the extension; the
    /// masked LM is one resizable "encoder" stack bounded by the run's preset depth.
    @Test func aPluginSeesTheModelAsNamedStacks() throws {
        let library = try PluginLibrary.open(path: try buildCPlugin(stacksReader, name: "stacks"))
        #expect(library.descriptor.requiredExtensions == ["ntng.model_stacks/1"])
        let host = try ScriptedHost(layers: 3)
        host.maxLayers = 6
        _ = try PluginStack(libraries: [library], settings: [:], services: host)
        #expect(host.logMessages == [
            "stack 0 of 1: encoder layers=3 max=6 first=0 resizable=1",
            "index 1: \(NTNG_E_INVALID)",
            "small: \(NTNG_E_INVALID)",
        ])
    }
}
