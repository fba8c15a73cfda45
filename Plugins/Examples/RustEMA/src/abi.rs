//! The part of ntng_plugin.h (PluginAPI v1.1) this plugin uses, transcribed as `#[repr(C)]`
//! structs. Every size and field offset is asserted at compile time against the header's LAYOUT
//! block (read by build.rs), so a wrong transcription does not build.
#![allow(non_camel_case_types, dead_code)]

use core::ffi::{c_char, c_void};

mod layout {
    include!(concat!(env!("OUT_DIR"), "/layout.rs"));
}

pub type ntng_status = i32;
pub const NTNG_OK: ntng_status = 0;
pub const NTNG_DECLINED: ntng_status = 1;
pub const NTNG_E_INVALID: ntng_status = -1;
pub const NTNG_E_INTERNAL: ntng_status = -4;
pub const NTNG_ABI_MAJOR: u16 = 1;
pub const NTNG_ABI_MINOR: u16 = 1;
pub const NTNG_CONFIG_DOUBLE: i32 = 1;
pub const NTNG_EXT_EVALUATION_WEIGHTS: &core::ffi::CStr = c"ntng.evaluation_weights/1";

type Fn = *const c_void; // a hook or service this plugin does not call: only its size matters

#[repr(C)]
pub struct ntng_step_info {
    pub struct_size: u32,
    pub num_layers: i32,
    pub step: u64,
    pub rng_seed: u64,
    pub budget_fraction: f64,
    pub max_layers: i32,
    pub reserved0: i32,
}

#[repr(C)]
pub struct ntng_model_info {
    pub struct_size: u32,
    pub num_layers: i32,
    pub max_layers: i32,
    pub hidden: i32,
    pub heads: i32,
    pub ffn: i32,
    pub vocabulary: i32,
    pub sequence_length: i32,
    pub micro_batch: i32,
    pub num_params: i32,
    pub flat_count: i64,
    pub parameter_count: i64,
}

#[repr(C)]
pub struct ntng_param_info {
    pub struct_size: u32,
    pub layer: i32,
    pub name: *const c_char,
    pub kind: i32,
    pub decayed: i32,
    pub ndim: i32,
    pub reserved0: i32,
    pub shape: [i64; 4],
    pub offset: i64,
    pub count: i64,
    pub value: *mut f32,
    pub grad: *const f32,
    pub has_gradient: i32,
    pub reserved1: i32,
    pub updates: u64,
}

#[repr(C)]
pub struct ntng_optimizer_args {
    pub struct_size: u32,
    pub lr: f32,
    pub update: u64,
    pub batch_sequences: i64,
    pub batch_tokens: i64,
    pub schedule_lr: f64,
    pub lr_scale: f64,
    pub peak_lr: f64,
    pub schedule_fraction: f64,
}

#[repr(C)]
pub struct ntng_host {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub host_ctx: *mut c_void,
    pub get_extension: Fn,
    pub log: Fn,
    pub set_error: unsafe extern "C" fn(h: *const ntng_host, code: ntng_status, msg: *const c_char),
    pub get_budget: Fn,
    pub get_model_info: unsafe extern "C" fn(h: *const ntng_host, out: *mut ntng_model_info) -> ntng_status,
    pub param_info: unsafe extern "C" fn(h: *const ntng_host, index: i32, out: *mut ntng_param_info) -> ntng_status,
    pub state_tensor: unsafe extern "C" fn(h: *const ntng_host, name: *const c_char, fill: f32) -> i32,
    pub state_data: unsafe extern "C" fn(h: *const ntng_host, id: i32) -> *mut f32,
    pub per_example_loss: Fn,
    pub sampled_label_gradient: Fn,
    pub config_int: Fn,
    pub config_double: unsafe extern "C" fn(h: *const ntng_host, key: *const c_char, out: *mut f64) -> ntng_status,
    pub config_bool: Fn,
    pub config_string: Fn,
}

#[repr(C)]
pub struct ntng_config_key {
    pub struct_size: u32,
    pub type_: i32,
    pub key: *const c_char,
    pub default_value: *const c_char,
    pub help: *const c_char,
}

pub type OptimizerHook = unsafe extern "C" fn(this: *mut c_void, s: *const ntng_step_info, a: *const ntng_optimizer_args) -> ntng_status;
pub type ExtensionHook = unsafe extern "C" fn(this: *mut c_void, id: *const c_char) -> *const c_void;

#[repr(C)]
pub struct ntng_hooks {
    pub struct_size: u32,
    pub on_run_start: Fn,
    pub on_run_end: Fn,
    pub resize_model: Fn,
    pub on_model_resized: Fn,
    pub on_step: Fn,
    pub select_batch: Fn,
    pub pool_factor: Fn,
    pub optimizer_step: Option<OptimizerHook>,
    pub save_state: Fn,
    pub load_state: Fn,
    pub get_extension: Option<ExtensionHook>,
    pub after_optimizer_step: Option<OptimizerHook>,
}

#[repr(C)]
pub struct ntng_descriptor {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub id: *const c_char,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub config_keys: *const *const ntng_config_key,
    pub required_extensions: *const *const c_char,
    pub hooks: *const ntng_hooks,
    pub create: unsafe extern "C" fn(host: *const ntng_host, out_self: *mut *mut c_void) -> ntng_status,
    pub destroy: unsafe extern "C" fn(this: *mut c_void),
}

#[repr(C)]
pub struct ntng_entry {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub init: Fn,
    pub descriptor: *const ntng_descriptor,
}

#[repr(C)]
pub struct ntng_evaluation_weights_v1 {
    pub struct_size: u32,
    pub write: unsafe extern "C" fn(this: *mut c_void, s: *const ntng_step_info, out: *mut f32, count: i64) -> ntng_status,
}

/// Asserts a struct's size and each listed field's offset against the header's LAYOUT block.
macro_rules! check_layout {
    ($t:ident: $size:ident { $($field:ident => $offset:ident),* $(,)? }) => {
        const _: () = assert!(core::mem::size_of::<$t>() == layout::$size, concat!(stringify!($t), ": size differs from ntng_plugin.h"));
        $(const _: () = assert!(core::mem::offset_of!($t, $field) == layout::$offset,
                                concat!(stringify!($t), ".", stringify!($field), ": offset differs from ntng_plugin.h"));)*
    };
}

check_layout!(ntng_step_info: SIZE_NTNG_STEP_INFO {
    struct_size => OFFSET_NTNG_STEP_INFO_STRUCT_SIZE, num_layers => OFFSET_NTNG_STEP_INFO_NUM_LAYERS, step => OFFSET_NTNG_STEP_INFO_STEP,
    rng_seed => OFFSET_NTNG_STEP_INFO_RNG_SEED, budget_fraction => OFFSET_NTNG_STEP_INFO_BUDGET_FRACTION,
    max_layers => OFFSET_NTNG_STEP_INFO_MAX_LAYERS, reserved0 => OFFSET_NTNG_STEP_INFO_RESERVED0,
});
check_layout!(ntng_model_info: SIZE_NTNG_MODEL_INFO {
    struct_size => OFFSET_NTNG_MODEL_INFO_STRUCT_SIZE, num_layers => OFFSET_NTNG_MODEL_INFO_NUM_LAYERS,
    max_layers => OFFSET_NTNG_MODEL_INFO_MAX_LAYERS, hidden => OFFSET_NTNG_MODEL_INFO_HIDDEN, heads => OFFSET_NTNG_MODEL_INFO_HEADS,
    ffn => OFFSET_NTNG_MODEL_INFO_FFN, vocabulary => OFFSET_NTNG_MODEL_INFO_VOCABULARY,
    sequence_length => OFFSET_NTNG_MODEL_INFO_SEQUENCE_LENGTH, micro_batch => OFFSET_NTNG_MODEL_INFO_MICRO_BATCH,
    num_params => OFFSET_NTNG_MODEL_INFO_NUM_PARAMS, flat_count => OFFSET_NTNG_MODEL_INFO_FLAT_COUNT,
    parameter_count => OFFSET_NTNG_MODEL_INFO_PARAMETER_COUNT,
});
check_layout!(ntng_param_info: SIZE_NTNG_PARAM_INFO {
    struct_size => OFFSET_NTNG_PARAM_INFO_STRUCT_SIZE, layer => OFFSET_NTNG_PARAM_INFO_LAYER, name => OFFSET_NTNG_PARAM_INFO_NAME,
    kind => OFFSET_NTNG_PARAM_INFO_KIND, decayed => OFFSET_NTNG_PARAM_INFO_DECAYED, ndim => OFFSET_NTNG_PARAM_INFO_NDIM,
    reserved0 => OFFSET_NTNG_PARAM_INFO_RESERVED0, shape => OFFSET_NTNG_PARAM_INFO_SHAPE, offset => OFFSET_NTNG_PARAM_INFO_OFFSET,
    count => OFFSET_NTNG_PARAM_INFO_COUNT, value => OFFSET_NTNG_PARAM_INFO_VALUE, grad => OFFSET_NTNG_PARAM_INFO_GRAD,
    has_gradient => OFFSET_NTNG_PARAM_INFO_HAS_GRADIENT, reserved1 => OFFSET_NTNG_PARAM_INFO_RESERVED1,
    updates => OFFSET_NTNG_PARAM_INFO_UPDATES,
});
check_layout!(ntng_optimizer_args: SIZE_NTNG_OPTIMIZER_ARGS {
    struct_size => OFFSET_NTNG_OPTIMIZER_ARGS_STRUCT_SIZE, lr => OFFSET_NTNG_OPTIMIZER_ARGS_LR, update => OFFSET_NTNG_OPTIMIZER_ARGS_UPDATE,
    batch_sequences => OFFSET_NTNG_OPTIMIZER_ARGS_BATCH_SEQUENCES, batch_tokens => OFFSET_NTNG_OPTIMIZER_ARGS_BATCH_TOKENS,
    schedule_lr => OFFSET_NTNG_OPTIMIZER_ARGS_SCHEDULE_LR, lr_scale => OFFSET_NTNG_OPTIMIZER_ARGS_LR_SCALE,
    peak_lr => OFFSET_NTNG_OPTIMIZER_ARGS_PEAK_LR, schedule_fraction => OFFSET_NTNG_OPTIMIZER_ARGS_SCHEDULE_FRACTION,
});
check_layout!(ntng_host: SIZE_NTNG_HOST {
    struct_size => OFFSET_NTNG_HOST_STRUCT_SIZE, abi_major => OFFSET_NTNG_HOST_ABI_MAJOR, abi_minor => OFFSET_NTNG_HOST_ABI_MINOR,
    host_ctx => OFFSET_NTNG_HOST_HOST_CTX, get_extension => OFFSET_NTNG_HOST_GET_EXTENSION, log => OFFSET_NTNG_HOST_LOG,
    set_error => OFFSET_NTNG_HOST_SET_ERROR, get_budget => OFFSET_NTNG_HOST_GET_BUDGET,
    get_model_info => OFFSET_NTNG_HOST_GET_MODEL_INFO, param_info => OFFSET_NTNG_HOST_PARAM_INFO,
    state_tensor => OFFSET_NTNG_HOST_STATE_TENSOR, state_data => OFFSET_NTNG_HOST_STATE_DATA,
    per_example_loss => OFFSET_NTNG_HOST_PER_EXAMPLE_LOSS, sampled_label_gradient => OFFSET_NTNG_HOST_SAMPLED_LABEL_GRADIENT,
    config_int => OFFSET_NTNG_HOST_CONFIG_INT, config_double => OFFSET_NTNG_HOST_CONFIG_DOUBLE,
    config_bool => OFFSET_NTNG_HOST_CONFIG_BOOL, config_string => OFFSET_NTNG_HOST_CONFIG_STRING,
});
check_layout!(ntng_config_key: SIZE_NTNG_CONFIG_KEY {
    struct_size => OFFSET_NTNG_CONFIG_KEY_STRUCT_SIZE, type_ => OFFSET_NTNG_CONFIG_KEY_TYPE, key => OFFSET_NTNG_CONFIG_KEY_KEY,
    default_value => OFFSET_NTNG_CONFIG_KEY_DEFAULT_VALUE, help => OFFSET_NTNG_CONFIG_KEY_HELP,
});
check_layout!(ntng_hooks: SIZE_NTNG_HOOKS {
    struct_size => OFFSET_NTNG_HOOKS_STRUCT_SIZE, on_run_start => OFFSET_NTNG_HOOKS_ON_RUN_START, on_run_end => OFFSET_NTNG_HOOKS_ON_RUN_END,
    resize_model => OFFSET_NTNG_HOOKS_RESIZE_MODEL, on_model_resized => OFFSET_NTNG_HOOKS_ON_MODEL_RESIZED,
    on_step => OFFSET_NTNG_HOOKS_ON_STEP, select_batch => OFFSET_NTNG_HOOKS_SELECT_BATCH, pool_factor => OFFSET_NTNG_HOOKS_POOL_FACTOR,
    optimizer_step => OFFSET_NTNG_HOOKS_OPTIMIZER_STEP, save_state => OFFSET_NTNG_HOOKS_SAVE_STATE,
    load_state => OFFSET_NTNG_HOOKS_LOAD_STATE, get_extension => OFFSET_NTNG_HOOKS_GET_EXTENSION,
    after_optimizer_step => OFFSET_NTNG_HOOKS_AFTER_OPTIMIZER_STEP,
});
check_layout!(ntng_descriptor: SIZE_NTNG_DESCRIPTOR {
    struct_size => OFFSET_NTNG_DESCRIPTOR_STRUCT_SIZE, abi_major => OFFSET_NTNG_DESCRIPTOR_ABI_MAJOR,
    abi_minor => OFFSET_NTNG_DESCRIPTOR_ABI_MINOR, id => OFFSET_NTNG_DESCRIPTOR_ID, name => OFFSET_NTNG_DESCRIPTOR_NAME,
    version => OFFSET_NTNG_DESCRIPTOR_VERSION, description => OFFSET_NTNG_DESCRIPTOR_DESCRIPTION,
    config_keys => OFFSET_NTNG_DESCRIPTOR_CONFIG_KEYS, required_extensions => OFFSET_NTNG_DESCRIPTOR_REQUIRED_EXTENSIONS,
    hooks => OFFSET_NTNG_DESCRIPTOR_HOOKS, create => OFFSET_NTNG_DESCRIPTOR_CREATE, destroy => OFFSET_NTNG_DESCRIPTOR_DESTROY,
});
check_layout!(ntng_entry: SIZE_NTNG_ENTRY {
    struct_size => OFFSET_NTNG_ENTRY_STRUCT_SIZE, abi_major => OFFSET_NTNG_ENTRY_ABI_MAJOR, abi_minor => OFFSET_NTNG_ENTRY_ABI_MINOR,
    init => OFFSET_NTNG_ENTRY_INIT, descriptor => OFFSET_NTNG_ENTRY_DESCRIPTOR,
});
check_layout!(ntng_evaluation_weights_v1: SIZE_NTNG_EVALUATION_WEIGHTS_V1 {
    struct_size => OFFSET_NTNG_EVALUATION_WEIGHTS_V1_STRUCT_SIZE, write => OFFSET_NTNG_EVALUATION_WEIGHTS_V1_WRITE,
});
