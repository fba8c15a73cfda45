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

/* The v1.0 structs end where v1.1 appended (rule V4): a v1.0 plugin's struct_size marks exactly
 * these offsets. The full layout is checked by the LAYOUT block of ntng_plugin.h. */
_Static_assert(offsetof(ntng_param_info, has_gradient) == 96, "ntng_param_info v1.0 size");
_Static_assert(offsetof(ntng_step_plan, layer_output_scale) == 24, "ntng_step_plan v1.0 size");
_Static_assert(offsetof(ntng_batch_pool, row_weights) == 24, "ntng_batch_pool v1.0 size");
_Static_assert(offsetof(ntng_optimizer_args, schedule_lr) == 32, "ntng_optimizer_args v1.0 size");
_Static_assert(offsetof(ntng_hooks, after_optimizer_step) == 96, "ntng_hooks v1.0 size");
_Static_assert(sizeof(ntng_step_info) == 40, "ntng_step_info v1.0 layout");
_Static_assert(sizeof(ntng_status) == 4, "ntng_status is 32-bit");
