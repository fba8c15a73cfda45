/* Compile-time checks of the ABI layout. This file defines no symbols: every plugin links the
 * PluginAPI target, and a plugin must export nothing but ntng_get_entry_v1. */
#include <stddef.h>
#include "ntng_plugin.h"

/* struct_size is the first field of every boundary struct (rule V2). */
_Static_assert(offsetof(ntng_entry, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_descriptor, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_hooks, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_host, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_config_key, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_step_info, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_step_plan, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_batch_pool, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_resize_plan, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_optimizer_args, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_param_info, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_budget, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_model_info, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_ostream, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ntng_istream, struct_size) == 0, "struct_size first");

/* Fixed-width layout on the 64-bit targets ntng supports: these sizes are frozen for v1.0. */
_Static_assert(sizeof(ntng_step_info) == 40, "ntng_step_info v1.0 layout");
_Static_assert(sizeof(ntng_param_info) == 96, "ntng_param_info v1.0 layout");
_Static_assert(sizeof(ntng_status) == 4, "ntng_status is 32-bit");
