//! An ntng method plugin in Rust (a `cdylib`, no crates): an exponential moving average of the
//! weights (Polyak averaging), evaluated in their place. It shows PluginAPI v1.1's composable
//! `after_optimizer_step` — it runs after whichever optimizer the run uses (the host's AdamW, or
//! Lion's or Sophia's `optimizer_step` when stacked: `--method lion+./libntng_example_ema.so`) —
//! and the "ntng.evaluation_weights/1" extension: validation, the checkpoint's evaluation copy and
//! `ntng eval` see the average; training and resume continue from the raw weights.
//!
//!     ema = decay * ema + (1 - decay) * p      after every update, for tensors with a gradient
//!
//! A tensor's average starts as a copy of its weights (state tensor "started" marks the seeded
//! ones, so layers a resize creates afresh are seeded again). Both tensors are host state tensors:
//! checkpointed by the host, no save_state needed. Its own arithmetic is charged as plugin work
//! (calibrated under "org.ntng.examples.rust-ema/after_optimizer_step", else estimated).
//!
//! Build: scripts/rust-example (cargo build --release --offline), then
//! `ntng plugin check <target>/release/libntng_example_ema.so`.

mod abi;

use abi::*;
use core::ffi::{c_char, c_void, CStr};

struct Ema {
    host: *const ntng_host,
    decay: f32,
    ema: i32,
    started: i32,
}

unsafe fn fail(h: *const ntng_host, code: ntng_status, message: &CStr) -> ntng_status {
    ((*h).set_error)(h, code, message.as_ptr());
    code
}

unsafe fn param(h: *const ntng_host, index: i32) -> Option<ntng_param_info> {
    let mut p: ntng_param_info = core::mem::zeroed();
    p.struct_size = core::mem::size_of::<ntng_param_info>() as u32;
    ((*h).param_info)(h, index, &mut p).eq(&NTNG_OK).then_some(p)
}

unsafe fn model(h: *const ntng_host) -> Option<ntng_model_info> {
    let mut m: ntng_model_info = core::mem::zeroed();
    m.struct_size = core::mem::size_of::<ntng_model_info>() as u32;
    ((*h).get_model_info)(h, &mut m).eq(&NTNG_OK).then_some(m)
}

unsafe extern "C" fn create(h: *const ntng_host, out: *mut *mut c_void) -> ntng_status {
    let mut decay = 0.0f64;
    if ((*h).config_double)(h, c"decay".as_ptr(), &mut decay) != NTNG_OK {
        return fail(h, NTNG_E_INVALID, c"could not read the config key decay");
    }
    if !(0.0..1.0).contains(&decay) {
        return fail(h, NTNG_E_INVALID, c"decay must be in [0, 1)");
    }
    let ema = ((*h).state_tensor)(h, c"ema".as_ptr(), 0.0);
    let started = ((*h).state_tensor)(h, c"started".as_ptr(), 0.0);
    if ema < 0 || started < 0 {
        return fail(h, NTNG_E_INTERNAL, c"could not allocate the state tensors");
    }
    *out = Box::into_raw(Box::new(Ema { host: h, decay: decay as f32, ema, started })) as *mut c_void;
    NTNG_OK
}

unsafe extern "C" fn destroy(this: *mut c_void) {
    drop(Box::from_raw(this as *mut Ema));
}

/// After the optimizer: fold the new weights into the average (tensors with a gradient only).
unsafe extern "C" fn after_optimizer_step(this: *mut c_void, _s: *const ntng_step_info, _a: *const ntng_optimizer_args) -> ntng_status {
    let me = &*(this as *const Ema);
    let h = me.host;
    let Some(m) = model(h) else { return fail(h, NTNG_E_INTERNAL, c"get_model_info failed") };
    let (ema, started) = (((*h).state_data)(h, me.ema), ((*h).state_data)(h, me.started));
    if ema.is_null() || started.is_null() {
        return fail(h, NTNG_E_INTERNAL, c"a state tensor vanished");
    }
    for i in 0..m.num_params {
        let Some(p) = param(h, i) else { return fail(h, NTNG_E_INTERNAL, c"param_info failed") };
        if p.has_gradient == 0 {
            continue; // skipped or frozen this step: its weights did not move, nor does the average
        }
        let (offset, n) = (p.offset as usize, p.count as usize);
        let value = core::slice::from_raw_parts(p.value, n);
        let average = core::slice::from_raw_parts_mut(ema.add(offset), n);
        let seeded = core::slice::from_raw_parts_mut(started.add(offset), n);
        if seeded[0] == 0.0 {
            average.copy_from_slice(value);
            seeded.fill(1.0);
        } else {
            let (d, e) = (me.decay, 1.0 - me.decay);
            for (a, &v) in average.iter_mut().zip(value) {
                *a = d * *a + e * v;
            }
        }
    }
    NTNG_OK
}

/// "ntng.evaluation_weights/1": the average where it has been seeded, the weights elsewhere.
unsafe extern "C" fn write(this: *mut c_void, _s: *const ntng_step_info, out: *mut f32, count: i64) -> ntng_status {
    let me = &*(this as *const Ema);
    let h = me.host;
    let Some(m) = model(h) else { return fail(h, NTNG_E_INTERNAL, c"get_model_info failed") };
    if count != m.flat_count {
        return fail(h, NTNG_E_INVALID, c"the buffer does not have the model's flat layout");
    }
    let (ema, started) = (((*h).state_data)(h, me.ema), ((*h).state_data)(h, me.started));
    if ema.is_null() || started.is_null() {
        return fail(h, NTNG_E_INTERNAL, c"a state tensor vanished");
    }
    for i in 0..m.num_params {
        let Some(p) = param(h, i) else { return fail(h, NTNG_E_INTERNAL, c"param_info failed") };
        let (offset, n) = (p.offset as usize, p.count as usize);
        if *started.add(offset) != 0.0 {
            core::ptr::copy_nonoverlapping(ema.add(offset), out.add(offset), n);
        }
    }
    NTNG_OK
}

unsafe extern "C" fn get_extension(_this: *mut c_void, id: *const c_char) -> *const c_void {
    if !id.is_null() && CStr::from_ptr(id) == NTNG_EXT_EVALUATION_WEIGHTS {
        &EVALUATION_WEIGHTS.0 as *const ntng_evaluation_weights_v1 as *const c_void
    } else {
        core::ptr::null()
    }
}

/// The tables hold raw pointers; they are immutable and live for the process.
#[repr(transparent)]
struct Table<T>(T);
unsafe impl<T> Sync for Table<T> {}

static EVALUATION_WEIGHTS: Table<ntng_evaluation_weights_v1> =
    Table(ntng_evaluation_weights_v1 { struct_size: core::mem::size_of::<ntng_evaluation_weights_v1>() as u32, write });

static KEY_DECAY: Table<ntng_config_key> = Table(ntng_config_key {
    struct_size: core::mem::size_of::<ntng_config_key>() as u32,
    type_: NTNG_CONFIG_DOUBLE,
    key: c"decay".as_ptr(),
    default_value: c"0.99".as_ptr(),
    help: c"average = decay * average + (1 - decay) * weights after every update".as_ptr(),
});
static CONFIG_KEYS: Table<[*const ntng_config_key; 2]> = Table([&KEY_DECAY.0, core::ptr::null()]);

static HOOKS: Table<ntng_hooks> = Table(ntng_hooks {
    struct_size: core::mem::size_of::<ntng_hooks>() as u32,
    on_run_start: core::ptr::null(),
    on_run_end: core::ptr::null(),
    resize_model: core::ptr::null(),
    on_model_resized: core::ptr::null(),
    on_step: core::ptr::null(),
    select_batch: core::ptr::null(),
    pool_factor: core::ptr::null(),
    optimizer_step: None,
    save_state: core::ptr::null(),
    load_state: core::ptr::null(),
    get_extension: Some(get_extension),
    after_optimizer_step: Some(after_optimizer_step),
});

static DESCRIPTOR: Table<ntng_descriptor> = Table(ntng_descriptor {
    struct_size: core::mem::size_of::<ntng_descriptor>() as u32,
    abi_major: NTNG_ABI_MAJOR,
    abi_minor: NTNG_ABI_MINOR,
    id: c"org.ntng.examples.rust-ema".as_ptr(),
    name: c"EMA of the weights (Rust example)".as_ptr(),
    version: c"1.0.0".as_ptr(),
    description: c"Polyak averaging after any optimizer; evaluation at the average".as_ptr(),
    config_keys: &CONFIG_KEYS.0 as *const [*const ntng_config_key; 2] as *const *const ntng_config_key,
    required_extensions: core::ptr::null(),
    hooks: &HOOKS.0,
    create,
    destroy,
});

static ENTRY: Table<ntng_entry> = Table(ntng_entry {
    struct_size: core::mem::size_of::<ntng_entry>() as u32,
    abi_major: NTNG_ABI_MAJOR,
    abi_minor: NTNG_ABI_MINOR,
    init: core::ptr::null(),
    descriptor: &DESCRIPTOR.0,
});

/// The one exported symbol.
#[no_mangle]
pub extern "C" fn ntng_get_entry_v1() -> *const ntng_entry {
    &ENTRY.0
}
