/* ntng_plugin.h — PluginAPI v1.1: the C ABI between the ntng host and a training-method plugin.
 *
 * A plugin is a shared library that exports exactly one function, ntng_get_entry_v1, returning a
 * table that describes one training method (its id, version, config keys and hook functions). The
 * host dlopens the library, checks the table, creates an instance and calls the hooks from its
 * training loop. This header is the whole API: nothing else of the host is visible to plugins.
 * Plain C11, C++-clean, fixed-width types only; no enum type appears in a boundary struct.
 *
 * Build a plugin from one C file:
 *     cc -shared -fPIC -fvisibility=hidden -I Sources/PluginAPI/include -o libmine.so mine.c
 * and run it with `ntng plugin check ./libmine.so`, then `ntng run --method ./libmine.so`.
 * docs/plugins.md is the author guide (lifecycle loop, every hook and service, charging, fairness).
 *
 * ---------------------------------------------------------------------------------------------
 * VERSIONING
 *   V1. NTNG_ABI_MAJOR must equal the host's exactly; the plugin's NTNG_ABI_MINOR must be <= the
 *       host's (an old plugin runs on a newer host, never the reverse). A major bump renames the
 *       entry symbol (ntng_get_entry_v2).
 *   V2. Every struct that crosses the boundary starts with uint32_t struct_size = sizeof(the struct
 *       as the writer compiled it). Structs only grow at their end; a reader never touches a field
 *       whose offset is >= struct_size. Whoever fills a struct zero-fills it first.
 *   V3. Optional features are found by versioned string id ("ntng.<name>/<n>") through
 *       get_extension on the host or on the plugin; an incompatible change gets a new id and the
 *       struct behind an old id never changes. Hosts serve "ntng.diagnostics/1" and
 *       "ntng.model_stacks/1" (below; the second was added without an ABI change, so a
 *       plugin that needs it lists it in required_extensions, or copes with NULL from an older
 *       host); get_extension returns NULL for any other id. A plugin lists extensions it cannot work without in required_extensions and
 *       the host refuses to create it when one is missing. Plugins may serve "ntng.evaluation_weights/1"
 *       through ntng_hooks.get_extension.
 *   V4. What v1.1 added is marked "v1.1" below; every addition sits at the end of a v1.0 struct, so
 *       a v1.0 plugin, built against the v1.0 header and never rebuilt, keeps its exact behaviour:
 *       the host reads a plugin's tables and fills its out-structs only as far as its struct_size
 *       reaches, and a plugin that does not know a field never sees it change what it was given.
 *       A plugin that needs a v1.1 field declares abi_minor >= 1 (an older host then refuses it).
 *   V5. "LAYOUT" at the end of this header publishes the size of every boundary struct and the
 *       offset of every field on 64-bit targets, as static assertions; a binding in another
 *       language checks its own layout against those numbers (see Plugins/Examples/RustEMA).
 *
 * OWNERSHIP
 *   O1. Pointers passed into a hook or returned by a host service are BORROWED for the duration of
 *       that call (or, for service results, until the current hook returns). Never keep them: the
 *       parameter and state buffers move when the model is resized.
 *   O2. Tables and strings the plugin returns (entry, descriptor, hooks, config keys, ids) belong
 *       to the plugin and must stay valid for the life of the process (the host never unloads).
 *   O3. The host owns all tensors: parameters, gradients and plugin state tensors. Out-buffers
 *       (selected rows, keep masks, resize plans) are allocated and sized by the host; the plugin
 *       only fills them.
 *   O4. Text crosses the boundary only as a copy: log and set_error copy the message before they
 *       return. No allocator, exception, Swift error or longjmp ever crosses the boundary; a C++
 *       plugin catches everything inside each hook.
 *
 * THREADS
 *   T1. One instance's hooks are called serially, on the host's training thread. Instances of one
 *       library may live in the same process at the same time (the checker creates several); keep
 *       no mutable globals, or guard them.
 *   T2. Host services may be called only from inside create or a hook of the same instance, on the
 *       calling thread. Plugins start no threads that touch host memory, and no thread of theirs
 *       may run while no hook is running (rule F2 in docs/plugins.md).
 *
 * LIFECYCLE (host side; every step is optional except create/destroy)
 *   dlopen(RTLD_NOW|RTLD_LOCAL|RTLD_NODELETE) -> ntng_get_entry_v1() -> entry->init(path)
 *   -> descriptor->create(host, &self)
 *   -> [resume only: load_state(self, bytes)]  -> on_run_start
 *   -> per step: resize_model -> [on_model_resized] -> on_step -> select_batch
 *                -> (host: forward + backward, gradient clipping) -> optimizer_step (or the
 *                host's AdamW) -> after_optimizer_step (v1.1, every plugin, stack order)
 *   -> [before every evaluation and checkpoint: evaluation_weights.write (v1.1)]
 *   -> [checkpoint: save_state] ... -> on_run_end -> descriptor->destroy(self)
 *   The library is never dlclosed. Evaluation itself runs no plugin code: a plugin may only say,
 *   beforehand and uncharged, which weights are evaluated ("ntng.evaluation_weights/1").
 *
 * FAIRNESS (see docs/plugins.md for the numbered rules)
 *   The only randomness a plugin may use is ntng_step_info.rng_seed. It reads no clock, no
 *   evaluation data and no files other than those named by its config. Its own arithmetic in
 *   optimizer_step is charged to the budget; every host service is charged at reference cost.
 * --------------------------------------------------------------------------------------------- */
#ifndef NTNG_PLUGIN_H
#define NTNG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define NTNG_EXPORT __declspec(dllexport)
#else
#define NTNG_EXPORT __attribute__((visibility("default")))
#endif

#define NTNG_ABI_MAJOR 1
#define NTNG_ABI_MINOR 1
#define NTNG_ENTRY_SYMBOL "ntng_get_entry_v1"

/* ---- Codes: int32_t typedefs with #define values (C enums have compiler-chosen sizes). ----- */

/* Status returned by every hook and most services. */
typedef int32_t ntng_status;
#define NTNG_OK 0            /* done */
#define NTNG_DECLINED 1      /* ran and chose to change nothing; allowed only where a hook says so */
#define NTNG_E_INVALID (-1)  /* bad argument or broken contract; say why with set_error */
#define NTNG_E_UNSUPPORTED (-2)
#define NTNG_E_NO_MEMORY (-3)
#define NTNG_E_INTERNAL (-4)
#define NTNG_E_IO (-5)       /* a state stream failed */

/* Log levels for ntng_host.log. */
typedef int32_t ntng_log_level;
#define NTNG_LOG_DEBUG 0
#define NTNG_LOG_INFO 1
#define NTNG_LOG_WARNING 2
#define NTNG_LOG_ERROR 3

/* What a parameter tensor is (ntng_param_info.kind). */
typedef int32_t ntng_param_kind;
#define NTNG_PARAM_MATRIX 0     /* a linear layer's weight; the baseline decays it */
#define NTNG_PARAM_EMBEDDING 1  /* token embedding, tied with the output decoder */
#define NTNG_PARAM_NORM_GAIN 2
#define NTNG_PARAM_NORM_BIAS 3
#define NTNG_PARAM_SCALE 4      /* a learned scalar */

/* Types of config values (ntng_config_key.type). */
typedef int32_t ntng_config_type;
#define NTNG_CONFIG_INT 0     /* int64_t, decimal text */
#define NTNG_CONFIG_DOUBLE 1  /* finite double, decimal or exponent text */
#define NTNG_CONFIG_BOOL 2    /* "true"/"false" (also 1/0, yes/no) */
#define NTNG_CONFIG_STRING 3  /* UTF-8 text, e.g. a file path */

/* Budget units (ntng_budget.kind). */
#define NTNG_BUDGET_RST 0
#define NTNG_BUDGET_WALL 1
#define NTNG_BUDGET_STEPS 2

/* Highest tensor rank in ntng_param_info.shape. */
#define NTNG_MAX_RANK 4

/* resize plan entry meaning "fresh initialisation" rather than a copy of an existing layer. */
#define NTNG_LAYER_FRESH (-1)

typedef struct ntng_host ntng_host;

/* ---- Plain data passed to hooks ------------------------------------------------------------- */

/* Where the run stands when a hook is called. Borrowed for the call. */
typedef struct ntng_step_info {
  uint32_t struct_size;
  int32_t num_layers;      /* current encoder depth */
  uint64_t step;           /* optimizer steps completed so far (0 before the first step) */
  uint64_t rng_seed;       /* derived by the host from (run seed, step, plugin id): the ONLY
                              randomness a plugin may use (fairness rule F3) */
  double budget_fraction;  /* share of the budget used, 0..1: schedules should read this */
  int32_t max_layers;      /* the depth the run's model preset was defined with */
  int32_t reserved0;
} ntng_step_info;

/* Read-only snapshot of the budget clock (ntng_host.get_budget). */
typedef struct ntng_budget {
  uint32_t struct_size;
  int32_t kind;            /* NTNG_BUDGET_* */
  double amount;           /* the budget, in its unit (seconds or steps) */
  double elapsed;          /* used so far, same unit */
  double fraction;         /* elapsed / amount, clamped to 0..1 */
  double rst_seconds;      /* reference-system seconds charged so far */
  uint64_t steps;          /* optimizer steps completed */
  uint64_t sequences;      /* training sequences consumed */
  uint64_t tokens;         /* training tokens consumed */
} ntng_budget;

/* The model's shape (ntng_host.get_model_info). */
typedef struct ntng_model_info {
  uint32_t struct_size;
  int32_t num_layers, max_layers, hidden, heads, ffn, vocabulary, sequence_length;
  int32_t micro_batch;     /* sequences per forward pass */
  int32_t num_params;      /* parameter tensors (index range of param_info) */
  int64_t flat_count;      /* floats in the flat parameter layout, padding included; every
                              state tensor has this many */
  int64_t parameter_count; /* real parameters (padding excluded) */
} ntng_model_info;

/* One parameter tensor (ntng_host.param_info). The caller sets struct_size; the host fills the
 * fields that fit. value/grad/name are borrowed until the current hook returns. */
typedef struct ntng_param_info {
  uint32_t struct_size;
  int32_t layer;           /* encoder layer, or -1 for embeddings, final norm and head */
  const char *name;        /* e.g. "layers.3.ffn.input.weight"; stable across resizes */
  ntng_param_kind kind;    /* NTNG_PARAM_* */
  int32_t decayed;         /* 1 exactly when the baseline's AdamW decays it: matrices, or every
                              tensor under --set decay-all=true */
  int32_t ndim;
  int32_t reserved0;
  int64_t shape[NTNG_MAX_RANK];
  int64_t offset;          /* first element in the flat layout (parameters, gradients and every
                              state tensor share it) */
  int64_t count;           /* elements */
  float *value;            /* == flat values + offset; the optimizer writes here */
  const float *grad;       /* == flat gradients + offset; mean over the batch, already clipped */
  /* v1.1 (host-written when struct_size reaches them; a v1.0 plugin never sees them): */
  int32_t has_gradient;    /* 1 if grad holds this step's gradient. 0 when no micro-batch of the step
                              ran the tensor's layer (keep masks), the layer ran forward only
                              (layer_backward), or the backward pass stopped below a frozen layer
                              (embedding norm, position scale): grad is then all zeros, and an
                              optimizer leaves the tensor and its state untouched, as the host's
                              AdamW, PyTorch and the reference Lion/Sophia do (rule G1). 1 outside
                              optimizer_step and after_optimizer_step. */
  int32_t reserved1;       /* 0 */
  uint64_t updates;        /* optimizer updates this tensor has received, counting the current one
                              when has_gradient is 1 (AdamW's per-parameter t for bias corrections).
                              Restarts at 0 for a tensor a resize created fresh or moved, with the
                              rule state tensors follow; checkpointed by the host. 0 outside
                              optimizer_step and after_optimizer_step. */
} ntng_param_info;

/* on_step: the host pre-fills lr_scale = 1 and every layer_keep byte = 1; the plugin may lower
 * them. Only lr_scale and the elements behind layer_keep (and, v1.1, layer_output_scale and
 * layer_backward) may be written. Plans compose over the stack: lr_scale and output scales
 * multiply, keep and backward flags AND. */
typedef struct ntng_step_plan {
  uint32_t struct_size;
  float lr_scale;          /* finite and >= 0; scales the scheduled learning rate this step */
  int32_t num_layers;      /* row length of layer_keep (= current depth) */
  int32_t micro_batches;   /* rows of layer_keep: one per micro-batch of this step */
  uint8_t *layer_keep;     /* [micro_batches][num_layers], host-owned; 1 = run the layer,
                              0 = skip it (identity residual). Each row keeps >= 1 layer. */
  /* v1.1: */
  float *layer_output_scale; /* [micro_batches][num_layers], host-owned, pre-filled 1: a kept layer's
                              residual branches (attention output and feed-forward output) are
                              multiplied by it in that micro-batch, x + s*f(x) (progressive layer
                              dropping's 1/p). Finite and > 0; the backward pass follows. */
  uint8_t *layer_backward; /* [num_layers], host-owned, pre-filled 1: 0 = the layer runs forward
                              only this step (frozen, FreezeOut-style): no gradient for its
                              parameters, charged as forward-only. Frozen layers must be a bottom
                              block 0..k-1: the backward pass stops above them, so the embedding's
                              norm and position scale get no gradient either (the tied token
                              embedding still gets the decoder's). */
} ntng_step_plan;

/* select_batch: a candidate pool the host sampled (pool_factor x batch rows). */
typedef struct ntng_batch_pool {
  uint32_t struct_size;
  int32_t n_candidates;    /* rows 0 .. n_candidates-1 */
  int32_t n_select;        /* rows to return (the step's batch size in sequences) */
  int32_t sequence_length;
  const uint64_t *example_ids; /* [n_candidates] stable ids of the candidates (e.g. to key a
                                  precomputed table, as RHO-LOSS does) */
  /* v1.1: */
  float *row_weights;      /* [n_select], host-owned, pre-filled 1: the loss weight of out_rows[i]
                              (unbiased importance sampling: 1/(N p_i)). Each finite and >= 0, not
                              all 0. The step's loss is sum_i w_i * (row i's summed token loss) /
                              (masked tokens of the batch), so all-ones is the plain mean; the
                              reported training loss stays the unweighted mean. */
} ntng_batch_pool;

/* resize_model: the host pre-fills current_layers, max_layers, new_num_layers = current_layers
 * and source_layer[i] = INT32_MIN (unset). To change the depth the plugin sets new_num_layers
 * (1..max_layers) and source_layer[0 .. new_num_layers-1] (each 0..current_layers-1 to copy that
 * layer, or NTNG_LAYER_FRESH), and returns NTNG_OK. */
typedef struct ntng_resize_plan {
  uint32_t struct_size;
  int32_t current_layers;
  int32_t max_layers;      /* capacity of source_layer */
  int32_t new_num_layers;
  int32_t *source_layer;   /* [max_layers], host-owned */
} ntng_resize_plan;

/* optimizer_step / after_optimizer_step arguments. Borrowed for the call. */
typedef struct ntng_optimizer_args {
  uint32_t struct_size;
  float lr;                /* (float)(schedule_lr * lr_scale): the baseline's rate this step */
  uint64_t update;         /* 1-based count of optimizer steps including this one (the step
                              count; per-tensor counts are ntng_param_info.updates) */
  int64_t batch_sequences; /* sequences in this step's batch */
  int64_t batch_tokens;    /* masked (predicted) tokens in this step's batch */
  /* v1.1: */
  double schedule_lr;      /* the host schedule's value this step, before any plugin's lr_scale */
  double lr_scale;         /* the composed on_step lr_scale (product over the stack) */
  double peak_lr;          /* the schedule's peak (the run's --set lr). A plugin optimizer with its
                              own tuned peak P keeps the host's schedule shape with
                              lr * (P / peak_lr) (Lion's and Sophia's peak_lr rule). */
  double schedule_fraction;/* the budget fraction the schedule was read at: the start of this step.
                              ntng_step_info.budget_fraction in these hooks already includes the
                              step's forward/backward charges. */
} ntng_optimizer_args;

/* State streams for save_state / load_state. write returns the bytes taken (may be fewer than n:
 * loop) or -1; read returns bytes read, 0 at the end, -1 on error. */
typedef struct ntng_ostream {
  uint32_t struct_size;
  void *ctx;
  int64_t (*write)(const struct ntng_ostream *stream, const void *buffer, uint64_t n);
} ntng_ostream;

typedef struct ntng_istream {
  uint32_t struct_size;
  void *ctx;
  int64_t (*read)(const struct ntng_istream *stream, void *buffer, uint64_t n);
} ntng_istream;

/* ---- Host services ---------------------------------------------------------------------------
 * One table per plugin instance, owned by the host, valid from create until destroy returns.
 * Every service takes the table as its first argument. "[hook]" = callable from create and any
 * hook; "[select_batch]" / "[optimizer_step]" = only from inside that hook (else NTNG_E_INVALID).
 * Services that do model work are timed by the host and charged at reference cost. */
struct ntng_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;   /* the host's ABI version */
  void *host_ctx;                  /* opaque to plugins */

  /* [hook] NULL when the host does not serve `id` ("ntng.<name>/<n>"); see "Extensions". */
  const void *(*get_extension)(const ntng_host *h, const char *id);
  /* [hook] Writes a line to the run log; msg is copied. */
  void (*log)(const ntng_host *h, ntng_log_level level, const char *msg);
  /* [hook] Records why the current hook is failing; msg is copied. The hook then returns `code`. */
  void (*set_error)(const ntng_host *h, ntng_status code, const char *msg);

  /* [hook] Snapshot of the budget clock. Set out->struct_size first. */
  ntng_status (*get_budget)(const ntng_host *h, ntng_budget *out);
  /* [hook] The model's current shape. Set out->struct_size first. */
  ntng_status (*get_model_info)(const ntng_host *h, ntng_model_info *out);
  /* [hook] Parameter tensor `index` (0 .. num_params-1), with value and gradient pointers. */
  ntng_status (*param_info)(const ntng_host *h, int32_t index, ntng_param_info *out);

  /* [hook] The plugin state tensor called `name` (unique per instance): a host-owned float array
   * with the flat parameter layout (model_info.flat_count floats; parameter i's slice starts at
   * param_info.offset). Created filled with `fill` on first request; later requests (and requests
   * after a resume, when the host restored it from a checkpoint) return the same tensor with its
   * contents. The host checkpoints it and, when the model is resized, keeps the slices of the
   * layers that stay in place (a layer copied onto itself) and of the non-layer parameters;
   * every other slice (new, fresh or moved layers) restarts at `fill`, exactly as the host's own
   * optimizer state does.
   * `fill` must be finite (else NTNG_E_INVALID); at most 64 state tensors per instance.
   * Returns an id >= 0, or a negative ntng_status. */
  int32_t (*state_tensor)(const ntng_host *h, const char *name, float fill);
  /* [hook] The data of state tensor `id` (flat_count floats), or NULL for an unknown id. */
  float *(*state_data)(const ntng_host *h, int32_t id);

  /* [select_batch] Forward-only losses of `n` pool rows, charged as scoring. out_loss_sum[i] is
   * the summed cross-entropy over row i's masked tokens, out_masked[i] their count (may be NULL).
   * Rows must be distinct and < n_candidates. */
  ntng_status (*per_example_loss)(const ntng_host *h, const int32_t *rows, int32_t n,
                                  float *out_loss_sum, float *out_masked);
  /* [optimizer_step] The sampled-label gradient pass (Sophia-G's estimator) on this step's batch:
   * one label per masked (predicted) position drawn from the model's own softmax, then the
   * gradient of (sum of those positions' losses) / (masked positions of the whole step) — one
   * mean over all masked tokens of all micro-batches, exactly the normalisation of the training
   * gradient — written (overwriting) into state tensor `state_id`. Padding positions are not
   * targets and add nothing. It runs the full current model (every layer, output scale 1, no
   * freezing, whatever this step's keep masks, backward flags and row weights). Parameter
   * gradients are left as they were. Each call is a fresh pass, charged as curvature: a second
   * call in the same step draws the same labels and costs again. */
  ntng_status (*sampled_label_gradient)(const ntng_host *h, int32_t state_id);

  /* [hook] Config values, declared by the descriptor and set with --set. NTNG_E_INVALID for a key
   * the descriptor did not declare or of another type (an INT key may be read as double). */
  ntng_status (*config_int)(const ntng_host *h, const char *key, int64_t *out);
  ntng_status (*config_double)(const ntng_host *h, const char *key, double *out);
  ntng_status (*config_bool)(const ntng_host *h, const char *key, int32_t *out);
  /* Copies the NUL-terminated value into buffer (truncating to capacity-1 bytes) and stores the
   * full length in *out_length (may be NULL); call with capacity 0 to ask the length. */
  ntng_status (*config_string)(const ntng_host *h, const char *key, char *buffer, uint64_t capacity,
                               uint64_t *out_length);
};

/* ---- Extensions the host serves ---------------------------------------------------------------
 * Found with host->get_extension(host, id); NULL when the host does not serve the id. */

/* "ntng.diagnostics/1": numbers a plugin reports for the run record, stored per step with the run
 * and shown by `ntng runs show` (e.g. "selection_rate", "win_rate"). Reporting is free (not
 * charged) and changes nothing in training. */
#define NTNG_EXT_DIAGNOSTICS "ntng.diagnostics/1"
typedef struct ntng_diagnostics_v1 {
  uint32_t struct_size;
  /* [hook] Records `value` (finite) under `key` ([a-z0-9_.-]+, at most 64 bytes) for the current
   * step; the key is copied. A key recorded several times in one step keeps the last value. */
  ntng_status (*record)(const ntng_host *h, const char *key, double value);
} ntng_diagnostics_v1;

/* "ntng.model_stacks/1": the model as named stacks of layers. The masked-LM encoder has one stack,
 * "encoder"; an encoder-decoder model has "encoder" and "decoder". param_info.layer is global:
 * layer i of a stack has index first_layer + i. Resize plans, keep masks, ntng_step_info's
 * num_layers/max_layers and model_info's num_layers/max_layers address the stack marked resizable
 * (exactly one). Reading it is free and changes nothing. */
#define NTNG_EXT_MODEL_STACKS "ntng.model_stacks/1"
typedef struct ntng_stack_info {
  uint32_t struct_size;
  int32_t num_layers;      /* current depth */
  int32_t max_layers;      /* the depth its preset defines */
  int32_t first_layer;     /* global index of its layer 0 (param_info.layer) */
  int32_t resizable;       /* 1 if resize plans and keep masks act on it */
  const char *name;        /* "encoder", "decoder"; borrowed until the current hook returns */
} ntng_stack_info;
typedef struct ntng_model_stacks_v1 {
  uint32_t struct_size;
  /* [hook] Number of stacks (>= 1), or a negative ntng_status. */
  int32_t (*count)(const ntng_host *h);
  /* [hook] Stack `index` (0 .. count-1). Set out->struct_size first; the host fills the fields
   * that fit. */
  ntng_status (*stack)(const ntng_host *h, int32_t index, ntng_stack_info *out);
} ntng_model_stacks_v1;

/* ---- Extensions a plugin serves ---------------------------------------------------------------
 * Found by the host with hooks->get_extension(self, id) after create; NULL when not served. */

/* "ntng.evaluation_weights/1" (v1.1, EXCLUSIVE): the weights every evaluation uses — mid-run and
 * final validation, the checkpoint's evaluation copy read by `ntng eval` — for methods that train
 * at one point and evaluate at another (schedule-free, EMA, SWA, LAWA). The training weights stay
 * what the next step and a resume continue from. */
#define NTNG_EXT_EVALUATION_WEIGHTS "ntng.evaluation_weights/1"
typedef struct ntng_evaluation_weights_v1 {
  uint32_t struct_size;
  /* Called before each evaluation and checkpoint, between steps, uncharged. Write `count`
   * (= model_info.flat_count) finite floats in the flat parameter layout into `out`, a host
   * buffer pre-filled with the training weights, reading param_info values and state tensors;
   * or return NTNG_DECLINED to evaluate the training weights. No model service may be called, no
   * parameter or state tensor may change, and the result must be a pure function of them (the
   * host may call it several times). */
  ntng_status (*write)(void *self, const ntng_step_info *s, float *out, int64_t count);
} ntng_evaluation_weights_v1;

/* ---- What a plugin declares -------------------------------------------------------------------*/

/* One config key. Settings arrive as `--set KEY=VALUE` (or `--set <method>.KEY=VALUE`); the host
 * refuses unknown keys and unparsable values before training. */
typedef struct ntng_config_key {
  uint32_t struct_size;
  ntng_config_type type;   /* NTNG_CONFIG_* */
  const char *key;         /* [a-z0-9_.-]+, e.g. "beta1" */
  const char *default_value; /* text parsed like a --set value; recorded with every run */
  const char *help;        /* one line for `ntng plugin list --verbose` and the docs */
} ntng_config_key;

/* The hooks. Any pointer may be NULL: the hook is then absent. Each takes the instance pointer
 * the plugin's create returned. Unless a hook says otherwise it returns NTNG_OK, or a negative
 * status after calling set_error; anything else stops the run as failed. */
typedef struct ntng_hooks {
  uint32_t struct_size;

  /* Once per process run, before the first step (after load_state when resuming). */
  ntng_status (*on_run_start)(void *self, const ntng_step_info *s);
  /* Once after the last step (not called when the run failed). */
  ntng_status (*on_run_end)(void *self, const ntng_step_info *s);

  /* EXCLUSIVE. Every step, first. Return NTNG_DECLINED for "no change", or fill the plan and
   * return NTNG_OK; the host validates it, rebuilds the model (copied layers are exact copies,
   * fresh ones initialised from the step seed), carries state tensors over (see state_tensor)
   * and charges the rebuild. */
  ntng_status (*resize_model)(void *self, const ntng_step_info *s, ntng_resize_plan *plan);
  /* After the host carried out a resize plan (whichever plugin asked for it). */
  ntng_status (*on_model_resized)(void *self, const ntng_step_info *s, const ntng_resize_plan *done);

  /* COMPOSES. Every step, after any resize. Each plugin gets its own pre-filled plan; the host
   * multiplies the lr_scale values and ANDs the keep masks, in stack order. May return
   * NTNG_DECLINED (plan ignored). */
  ntng_status (*on_step)(void *self, const ntng_step_info *s, ntng_step_plan *plan);

  /* EXCLUSIVE. Every step, after on_step: write pool->n_select distinct rows (each
   * < pool->n_candidates) into out_rows, in training order. May use per_example_loss. May return
   * NTNG_DECLINED: the host then trains on rows 0 .. n_select-1 (the pool is a random sample, so
   * that is a uniform batch). Requires pool_factor. */
  ntng_status (*select_batch)(void *self, const ntng_step_info *s, const ntng_batch_pool *pool,
                              int32_t *out_rows);
  /* With select_batch: the pool size as a multiple of the batch (1..64). Called after create
   * and after load_state; may depend on config. */
  int32_t (*pool_factor)(void *self);

  /* EXCLUSIVE. Replaces the host's AdamW: read gradients and write parameter values through
   * param_info, keep moments in state tensors. Its own arithmetic is charged (docs/plugins.md,
   * "Charging"). Every parameter value must stay finite. */
  ntng_status (*optimizer_step)(void *self, const ntng_step_info *s, const ntng_optimizer_args *a);

  /* Plugin-private state (not state tensors, which the host checkpoints itself). save_state
   * writes bytes; load_state, called on a freshly created instance, reads them back; saving
   * again must give the same bytes. */
  ntng_status (*save_state)(void *self, const ntng_ostream *out);
  ntng_status (*load_state)(void *self, const ntng_istream *in);

  /* Optional plugin-side extensions by versioned id; NULL if unsupported. */
  const void *(*get_extension)(void *self, const char *id);

  /* v1.1. COMPOSES. Every step, after whichever optimizer ran (a plugin's optimizer_step or the
   * host's AdamW), in stack order: EMA, SWA/LAWA snapshots, gradient noise, weight projections.
   * May write parameter values (param_info) and read gradients; every value must stay finite and
   * tensors with has_gradient = 0 stay untouched (rule G1). Its own arithmetic is charged like
   * optimizer_step's (calibrated under "<id>/after_optimizer_step", else estimated). */
  ntng_status (*after_optimizer_step)(void *self, const ntng_step_info *s, const ntng_optimizer_args *a);
} ntng_hooks;

/* The method. Owned by the plugin, valid for the life of the process. */
typedef struct ntng_descriptor {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor; /* the header version the plugin was compiled against:
                                    NTNG_ABI_MAJOR, NTNG_ABI_MINOR */
  const char *id;          /* unique, [a-z0-9][a-z0-9._-]*: "lion" for built-ins, reverse-DNS
                              ("org.example.sgd") for third parties; keys calibrations */
  const char *name;        /* human-readable */
  const char *version;     /* the method's own version, recorded with every result */
  const char *description; /* one line; may be NULL */
  const ntng_config_key *const *config_keys;  /* NULL-terminated array of pointers, or NULL */
  const char *const *required_extensions;     /* NULL-terminated, or NULL */
  const ntng_hooks *hooks; /* required */
  /* Creates an instance: read config, allocate state tensors, store `host` (valid until destroy).
   * On failure return a negative status after set_error, and leave *out_self unset. */
  ntng_status (*create)(const ntng_host *host, void **out_self);
  void (*destroy)(void *self);
} ntng_descriptor;

/* What ntng_get_entry_v1 returns. Owned by the plugin, valid for the life of the process. */
typedef struct ntng_entry {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;
  /* Called once per load, before anything else; may be NULL. No host services; must be fast
   * (`ntng plugin list` calls it). Return 0 to refuse loading. */
  int32_t (*init)(const char *library_path);
  const ntng_descriptor *descriptor;
} ntng_entry;

/* The one exported symbol. */
typedef const ntng_entry *(*ntng_get_entry_fn)(void);
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void);

/* ---- LAYOUT (generated by scripts/abi-layout; do not edit) ------------------------------------------
 * Sizes and field offsets in bytes on 64-bit targets (LP64 and LLP64 alike: only fixed-width
 * integers, floats and pointers cross the boundary). Compiling this header checks them; a
 * binding in another language compares its own layout with these numbers. */
#if !defined(NTNG_LAYOUT_SKIP) && UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
#ifdef __cplusplus
#define NTNG_CHECK_SIZE(type, n) static_assert(sizeof(type) == (n), #type " size")
#define NTNG_CHECK_OFFSET(type, field, n) static_assert(offsetof(type, field) == (n), #type "." #field)
#else
#define NTNG_CHECK_SIZE(type, n) _Static_assert(sizeof(type) == (n), #type " size")
#define NTNG_CHECK_OFFSET(type, field, n) _Static_assert(offsetof(type, field) == (n), #type "." #field)
#endif
NTNG_CHECK_SIZE(ntng_step_info, 40);
NTNG_CHECK_OFFSET(ntng_step_info, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_step_info, num_layers, 4);
NTNG_CHECK_OFFSET(ntng_step_info, step, 8);
NTNG_CHECK_OFFSET(ntng_step_info, rng_seed, 16);
NTNG_CHECK_OFFSET(ntng_step_info, budget_fraction, 24);
NTNG_CHECK_OFFSET(ntng_step_info, max_layers, 32);
NTNG_CHECK_OFFSET(ntng_step_info, reserved0, 36);
NTNG_CHECK_SIZE(ntng_budget, 64);
NTNG_CHECK_OFFSET(ntng_budget, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_budget, kind, 4);
NTNG_CHECK_OFFSET(ntng_budget, amount, 8);
NTNG_CHECK_OFFSET(ntng_budget, elapsed, 16);
NTNG_CHECK_OFFSET(ntng_budget, fraction, 24);
NTNG_CHECK_OFFSET(ntng_budget, rst_seconds, 32);
NTNG_CHECK_OFFSET(ntng_budget, steps, 40);
NTNG_CHECK_OFFSET(ntng_budget, sequences, 48);
NTNG_CHECK_OFFSET(ntng_budget, tokens, 56);
NTNG_CHECK_SIZE(ntng_model_info, 56);
NTNG_CHECK_OFFSET(ntng_model_info, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_model_info, num_layers, 4);
NTNG_CHECK_OFFSET(ntng_model_info, max_layers, 8);
NTNG_CHECK_OFFSET(ntng_model_info, hidden, 12);
NTNG_CHECK_OFFSET(ntng_model_info, heads, 16);
NTNG_CHECK_OFFSET(ntng_model_info, ffn, 20);
NTNG_CHECK_OFFSET(ntng_model_info, vocabulary, 24);
NTNG_CHECK_OFFSET(ntng_model_info, sequence_length, 28);
NTNG_CHECK_OFFSET(ntng_model_info, micro_batch, 32);
NTNG_CHECK_OFFSET(ntng_model_info, num_params, 36);
NTNG_CHECK_OFFSET(ntng_model_info, flat_count, 40);
NTNG_CHECK_OFFSET(ntng_model_info, parameter_count, 48);
NTNG_CHECK_SIZE(ntng_param_info, 112);
NTNG_CHECK_OFFSET(ntng_param_info, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_param_info, layer, 4);
NTNG_CHECK_OFFSET(ntng_param_info, name, 8);
NTNG_CHECK_OFFSET(ntng_param_info, kind, 16);
NTNG_CHECK_OFFSET(ntng_param_info, decayed, 20);
NTNG_CHECK_OFFSET(ntng_param_info, ndim, 24);
NTNG_CHECK_OFFSET(ntng_param_info, reserved0, 28);
NTNG_CHECK_OFFSET(ntng_param_info, shape, 32);
NTNG_CHECK_OFFSET(ntng_param_info, offset, 64);
NTNG_CHECK_OFFSET(ntng_param_info, count, 72);
NTNG_CHECK_OFFSET(ntng_param_info, value, 80);
NTNG_CHECK_OFFSET(ntng_param_info, grad, 88);
NTNG_CHECK_OFFSET(ntng_param_info, has_gradient, 96);
NTNG_CHECK_OFFSET(ntng_param_info, reserved1, 100);
NTNG_CHECK_OFFSET(ntng_param_info, updates, 104);
NTNG_CHECK_SIZE(ntng_step_plan, 40);
NTNG_CHECK_OFFSET(ntng_step_plan, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_step_plan, lr_scale, 4);
NTNG_CHECK_OFFSET(ntng_step_plan, num_layers, 8);
NTNG_CHECK_OFFSET(ntng_step_plan, micro_batches, 12);
NTNG_CHECK_OFFSET(ntng_step_plan, layer_keep, 16);
NTNG_CHECK_OFFSET(ntng_step_plan, layer_output_scale, 24);
NTNG_CHECK_OFFSET(ntng_step_plan, layer_backward, 32);
NTNG_CHECK_SIZE(ntng_batch_pool, 32);
NTNG_CHECK_OFFSET(ntng_batch_pool, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_batch_pool, n_candidates, 4);
NTNG_CHECK_OFFSET(ntng_batch_pool, n_select, 8);
NTNG_CHECK_OFFSET(ntng_batch_pool, sequence_length, 12);
NTNG_CHECK_OFFSET(ntng_batch_pool, example_ids, 16);
NTNG_CHECK_OFFSET(ntng_batch_pool, row_weights, 24);
NTNG_CHECK_SIZE(ntng_resize_plan, 24);
NTNG_CHECK_OFFSET(ntng_resize_plan, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_resize_plan, current_layers, 4);
NTNG_CHECK_OFFSET(ntng_resize_plan, max_layers, 8);
NTNG_CHECK_OFFSET(ntng_resize_plan, new_num_layers, 12);
NTNG_CHECK_OFFSET(ntng_resize_plan, source_layer, 16);
NTNG_CHECK_SIZE(ntng_optimizer_args, 64);
NTNG_CHECK_OFFSET(ntng_optimizer_args, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_optimizer_args, lr, 4);
NTNG_CHECK_OFFSET(ntng_optimizer_args, update, 8);
NTNG_CHECK_OFFSET(ntng_optimizer_args, batch_sequences, 16);
NTNG_CHECK_OFFSET(ntng_optimizer_args, batch_tokens, 24);
NTNG_CHECK_OFFSET(ntng_optimizer_args, schedule_lr, 32);
NTNG_CHECK_OFFSET(ntng_optimizer_args, lr_scale, 40);
NTNG_CHECK_OFFSET(ntng_optimizer_args, peak_lr, 48);
NTNG_CHECK_OFFSET(ntng_optimizer_args, schedule_fraction, 56);
NTNG_CHECK_SIZE(ntng_ostream, 24);
NTNG_CHECK_OFFSET(ntng_ostream, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_ostream, ctx, 8);
NTNG_CHECK_OFFSET(ntng_ostream, write, 16);
NTNG_CHECK_SIZE(ntng_istream, 24);
NTNG_CHECK_OFFSET(ntng_istream, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_istream, ctx, 8);
NTNG_CHECK_OFFSET(ntng_istream, read, 16);
NTNG_CHECK_SIZE(ntng_host, 128);
NTNG_CHECK_OFFSET(ntng_host, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_host, abi_major, 4);
NTNG_CHECK_OFFSET(ntng_host, abi_minor, 6);
NTNG_CHECK_OFFSET(ntng_host, host_ctx, 8);
NTNG_CHECK_OFFSET(ntng_host, get_extension, 16);
NTNG_CHECK_OFFSET(ntng_host, log, 24);
NTNG_CHECK_OFFSET(ntng_host, set_error, 32);
NTNG_CHECK_OFFSET(ntng_host, get_budget, 40);
NTNG_CHECK_OFFSET(ntng_host, get_model_info, 48);
NTNG_CHECK_OFFSET(ntng_host, param_info, 56);
NTNG_CHECK_OFFSET(ntng_host, state_tensor, 64);
NTNG_CHECK_OFFSET(ntng_host, state_data, 72);
NTNG_CHECK_OFFSET(ntng_host, per_example_loss, 80);
NTNG_CHECK_OFFSET(ntng_host, sampled_label_gradient, 88);
NTNG_CHECK_OFFSET(ntng_host, config_int, 96);
NTNG_CHECK_OFFSET(ntng_host, config_double, 104);
NTNG_CHECK_OFFSET(ntng_host, config_bool, 112);
NTNG_CHECK_OFFSET(ntng_host, config_string, 120);
NTNG_CHECK_SIZE(ntng_diagnostics_v1, 16);
NTNG_CHECK_OFFSET(ntng_diagnostics_v1, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_diagnostics_v1, record, 8);
NTNG_CHECK_SIZE(ntng_stack_info, 32);
NTNG_CHECK_OFFSET(ntng_stack_info, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_stack_info, num_layers, 4);
NTNG_CHECK_OFFSET(ntng_stack_info, max_layers, 8);
NTNG_CHECK_OFFSET(ntng_stack_info, first_layer, 12);
NTNG_CHECK_OFFSET(ntng_stack_info, resizable, 16);
NTNG_CHECK_OFFSET(ntng_stack_info, name, 24);
NTNG_CHECK_SIZE(ntng_model_stacks_v1, 24);
NTNG_CHECK_OFFSET(ntng_model_stacks_v1, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_model_stacks_v1, count, 8);
NTNG_CHECK_OFFSET(ntng_model_stacks_v1, stack, 16);
NTNG_CHECK_SIZE(ntng_evaluation_weights_v1, 16);
NTNG_CHECK_OFFSET(ntng_evaluation_weights_v1, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_evaluation_weights_v1, write, 8);
NTNG_CHECK_SIZE(ntng_config_key, 32);
NTNG_CHECK_OFFSET(ntng_config_key, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_config_key, type, 4);
NTNG_CHECK_OFFSET(ntng_config_key, key, 8);
NTNG_CHECK_OFFSET(ntng_config_key, default_value, 16);
NTNG_CHECK_OFFSET(ntng_config_key, help, 24);
NTNG_CHECK_SIZE(ntng_hooks, 104);
NTNG_CHECK_OFFSET(ntng_hooks, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_hooks, on_run_start, 8);
NTNG_CHECK_OFFSET(ntng_hooks, on_run_end, 16);
NTNG_CHECK_OFFSET(ntng_hooks, resize_model, 24);
NTNG_CHECK_OFFSET(ntng_hooks, on_model_resized, 32);
NTNG_CHECK_OFFSET(ntng_hooks, on_step, 40);
NTNG_CHECK_OFFSET(ntng_hooks, select_batch, 48);
NTNG_CHECK_OFFSET(ntng_hooks, pool_factor, 56);
NTNG_CHECK_OFFSET(ntng_hooks, optimizer_step, 64);
NTNG_CHECK_OFFSET(ntng_hooks, save_state, 72);
NTNG_CHECK_OFFSET(ntng_hooks, load_state, 80);
NTNG_CHECK_OFFSET(ntng_hooks, get_extension, 88);
NTNG_CHECK_OFFSET(ntng_hooks, after_optimizer_step, 96);
NTNG_CHECK_SIZE(ntng_descriptor, 80);
NTNG_CHECK_OFFSET(ntng_descriptor, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_descriptor, abi_major, 4);
NTNG_CHECK_OFFSET(ntng_descriptor, abi_minor, 6);
NTNG_CHECK_OFFSET(ntng_descriptor, id, 8);
NTNG_CHECK_OFFSET(ntng_descriptor, name, 16);
NTNG_CHECK_OFFSET(ntng_descriptor, version, 24);
NTNG_CHECK_OFFSET(ntng_descriptor, description, 32);
NTNG_CHECK_OFFSET(ntng_descriptor, config_keys, 40);
NTNG_CHECK_OFFSET(ntng_descriptor, required_extensions, 48);
NTNG_CHECK_OFFSET(ntng_descriptor, hooks, 56);
NTNG_CHECK_OFFSET(ntng_descriptor, create, 64);
NTNG_CHECK_OFFSET(ntng_descriptor, destroy, 72);
NTNG_CHECK_SIZE(ntng_entry, 24);
NTNG_CHECK_OFFSET(ntng_entry, struct_size, 0);
NTNG_CHECK_OFFSET(ntng_entry, abi_major, 4);
NTNG_CHECK_OFFSET(ntng_entry, abi_minor, 6);
NTNG_CHECK_OFFSET(ntng_entry, init, 8);
NTNG_CHECK_OFFSET(ntng_entry, descriptor, 16);
#endif
/* ---- END LAYOUT */
#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NTNG_PLUGIN_H */
