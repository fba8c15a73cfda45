/* Layer stacking (Gong et al. 2019, "progressive stacking", doubling variant as used by NTNG).
 *
 * The host builds the model at the preset's full depth L. This plugin shrinks it to the initial
 * depth on the first step (keeping layers 0..n-1) and doubles it at the configured budget
 * fractions by copying the whole current stack on top of itself:
 *
 *     [A B C D] -> [A B C D A B C D]          (layer i of the new half copies layer i - n)
 *
 * e.g. 4 -> 8 -> 16 for L = 16 at 12.5 % and 30 % of the budget. A doubling that would exceed L
 * stops at L (the copy is then the bottom L - n layers), and the default initial depth is
 * ceil(L / 2^growths), so the run always ends at the full depth L.
 *
 * What the plugin does NOT do, because the host does it from the plan:
 *   - copies are exact copies of their source layers at the moment of the resize;
 *   - optimizer state (the host's AdamW and any plugin state tensors) is kept for the layers that
 *     stay in place (the bottom n, copies of themselves) and starts empty for every other layer;
 *   - every step is charged for the layers the model has, and the rebuild is charged once.
 *
 * The plugin is stateless: the depth a step needs is a function of the budget fraction alone,
 * so a resumed run (whose checkpointed model already has the right depth) needs no private state.
 * Public header only; the one exported symbol is ntng_get_entry_v1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

/* At most this many growth events: 2^16 times the initial depth exceeds any model. */
#define STACKING_MAX_GROWTHS 16

typedef struct stacking {
  const ntng_host *host;
  int64_t initial_layers;                    /* 0 = ceil(L / 2^growths) */
  int32_t growths;                           /* entries of growth_fractions */
  double growth_fractions[STACKING_MAX_GROWTHS]; /* strictly increasing, in (0, 1) */
  int32_t record_depth;                      /* report the depth through ntng.diagnostics/1 */
} stacking;

/* Parses one decimal number ("0.125", "3e-1", ".3") without strtod, whose decimal point follows
 * the process locale (the host is not ours to setlocale). Up to 17 significant digits: the
 * mantissa is then an exact integer and one division by an exact power of ten rounds correctly
 * for the values a fraction list holds. Returns 0 on success. */
static int parse_decimal(const char *text, const char **end, double *out) {
  const char *p = text;
  uint64_t mantissa = 0;
  int digits = 0, scale = 0, any = 0;
  while (*p == ' ') p++;
  for (; *p >= '0' && *p <= '9'; p++, any = 1) {
    if (digits < 17) { mantissa = mantissa * 10 + (uint64_t)(*p - '0'); if (mantissa) digits++; }
    else scale++;
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
      if (digits < 17) { mantissa = mantissa * 10 + (uint64_t)(*p - '0'); if (mantissa) digits++; scale--; }
    }
  }
  if (!any) return -1;
  if (*p == 'e' || *p == 'E') {
    int sign = 1, exponent = 0, exponent_digits = 0;
    p++;
    if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
    for (; *p >= '0' && *p <= '9'; p++, exponent_digits++) {
      if (exponent < 1000) exponent = exponent * 10 + (*p - '0');
    }
    if (!exponent_digits) return -1;
    scale += sign * exponent;
  }
  while (*p == ' ') p++;
  if (scale < -30 || scale > 30) return -1; /* nothing in (0, 1) that matters lies out there */
  double power = 1.0;
  for (int k = 0; k < (scale < 0 ? -scale : scale); k++) power *= 10.0;
  *out = scale < 0 ? (double)mantissa / power : (double)mantissa * power;
  *end = p;
  return 0;
}

/* Reads "f1,f2,..." into s->growth_fractions; writes a reason into `why` on failure. */
static int parse_fractions(stacking *s, const char *text, char *why, size_t why_size) {
  const char *p = text;
  s->growths = 0;
  while (*p == ' ') p++;
  if (*p == '\0') return 0; /* an empty list: no growth, train at the initial depth throughout */
  for (;;) {
    double f;
    const char *end;
    if (parse_decimal(p, &end, &f) != 0) {
      snprintf(why, why_size, "fractions = \"%s\": expected comma-separated numbers such as 0.125,0.3", text);
      return -1;
    }
    if (!(f > 0.0 && f < 1.0)) {
      snprintf(why, why_size, "fractions = \"%s\": every growth fraction must lie strictly between 0 and 1", text);
      return -1;
    }
    if (s->growths > 0 && !(f > s->growth_fractions[s->growths - 1])) {
      snprintf(why, why_size, "fractions = \"%s\": growth fractions must be strictly increasing", text);
      return -1;
    }
    if (s->growths == STACKING_MAX_GROWTHS) {
      snprintf(why, why_size, "fractions = \"%s\": at most %d growth fractions", text, STACKING_MAX_GROWTHS);
      return -1;
    }
    s->growth_fractions[s->growths++] = f;
    if (*end == '\0') return 0;
    if (*end != ',') {
      snprintf(why, why_size, "fractions = \"%s\": expected comma-separated numbers such as 0.125,0.3", text);
      return -1;
    }
    p = end + 1;
  }
}

static ntng_status stacking_create(const ntng_host *h, void **out_self) {
  stacking *s = (stacking *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  char fractions[512];
  uint64_t length = 0;
  if (h->config_int(h, "initial_layers", &s->initial_layers) != NTNG_OK ||
      h->config_bool(h, "record_depth", &s->record_depth) != NTNG_OK ||
      h->config_string(h, "fractions", fractions, sizeof fractions, &length) != NTNG_OK) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config (initial_layers, fractions, record_depth)");
  }
  if (length >= sizeof fractions) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "fractions is too long (at most 511 characters)");
  }
  char why[768];
  if (parse_fractions(s, fractions, why, sizeof why) != 0) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, why);
  }
  if (s->initial_layers < 0) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "initial_layers must be >= 1, or 0 for ceil(L / 2^growths)");
  }
  *out_self = s;
  return NTNG_OK;
}

static void stacking_destroy(void *self) { free(self); }

/* The depth the model starts with: the configured one (at most L), else L / 2^growths rounded
 * up, so that `growths` doublings capped at L end exactly at L. */
static int32_t initial_depth(const stacking *s, int32_t max_layers) {
  if (s->initial_layers > 0) return s->initial_layers < max_layers ? (int32_t)s->initial_layers : max_layers;
  int64_t divisor = (int64_t)1 << s->growths;
  int64_t depth = (max_layers + divisor - 1) / divisor;
  return depth < 1 ? 1 : (int32_t)depth;
}

/* The depth the schedule wants at `fraction` of the budget: the initial depth doubled once per
 * growth fraction already reached, never above L. */
static int32_t scheduled_depth(const stacking *s, int32_t max_layers, double fraction) {
  int32_t depth = initial_depth(s, max_layers);
  for (int32_t k = 0; k < s->growths; k++) {
    if (fraction >= s->growth_fractions[k]) depth = depth * 2 < max_layers ? depth * 2 : max_layers;
  }
  return depth;
}

static void record_depth(const stacking *s, int32_t depth) {
  if (!s->record_depth) return;
  const ntng_diagnostics_v1 *d = (const ntng_diagnostics_v1 *)s->host->get_extension(s->host, NTNG_EXT_DIAGNOSTICS);
  if (d && d->struct_size >= sizeof *d && d->record) d->record(s->host, "stacking_depth", (double)depth);
}

static ntng_status stacking_resize_model(void *self, const ntng_step_info *info, ntng_resize_plan *plan) {
  stacking *s = (stacking *)self;
  const int32_t current = plan->current_layers;
  const int32_t target = scheduled_depth(s, plan->max_layers, info->budget_fraction);
  record_depth(s, target);
  if (target == current) return NTNG_DECLINED;

  if (target < current) {
    /* The model is created at full depth; the first step keeps its bottom `target` layers
     * (Gong et al. and NTNG run indices 0..n-1 of a full-size model). */
    if (info->step > 0) {
      char line[160];
      snprintf(line, sizeof line, "stacking: shrinking %d -> %d layers after step %llu (expected only before the first step)",
               (int)current, (int)target, (unsigned long long)info->step);
      s->host->log(s->host, NTNG_LOG_WARNING, line);
    }
    plan->new_num_layers = target;
    for (int32_t i = 0; i < target; i++) plan->source_layer[i] = i;
    return NTNG_OK;
  }

  /* Growth. Usually one doubling; a step that crossed several growth fractions at once (a very
   * short budget) applies them in sequence, so each doubling copies the stack of the previous
   * one: the source of layer i is found by folding i back by the depth before each doubling. */
  int32_t depth = current;
  for (int32_t i = 0; i < current; i++) plan->source_layer[i] = i;
  while (depth < target) {
    const int32_t next = depth * 2 < target ? depth * 2 : target;
    for (int32_t i = depth; i < next; i++) plan->source_layer[i] = plan->source_layer[i - depth];
    depth = next;
  }
  plan->new_num_layers = target;
  return NTNG_OK;
}

static ntng_status stacking_on_model_resized(void *self, const ntng_step_info *info, const ntng_resize_plan *done) {
  stacking *s = (stacking *)self;
  char line[200];
  if (done->new_num_layers < done->current_layers && info->step == 0)
    snprintf(line, sizeof line, "stacking: starting with layers 0..%d of %d (%d layers)",
             (int)done->new_num_layers - 1, (int)done->current_layers, (int)done->new_num_layers);
  else
    snprintf(line, sizeof line, "stacking: %d -> %d layers at %.2f %% of the budget (after %llu steps)",
             (int)done->current_layers, (int)done->new_num_layers, 100.0 * info->budget_fraction,
             (unsigned long long)info->step);
  s->host->log(s->host, NTNG_LOG_INFO, line);
  return NTNG_OK;
}

static const ntng_config_key key_initial_layers = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_INT,
    .key = "initial_layers",
    .default_value = "0",
    .help = "depth of the first stage; 0 = ceil(L / 2^growths), i.e. L/4 with two growths (4 of 16)",
};
static const ntng_config_key key_fractions = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "fractions",
    .default_value = "0.125,0.3",
    .help = "budget fractions at which the stack doubles (copied on top of itself, capped at L), increasing",
};
static const ntng_config_key key_record_depth = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "record_depth",
    .default_value = "true",
    .help = "report the scheduled depth per step as the diagnostic stacking_depth",
};
static const ntng_config_key *const config_keys[] = {&key_initial_layers, &key_fractions,
                                                     &key_record_depth, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .resize_model = stacking_resize_model,
    .on_model_resized = stacking_on_model_resized,
    /* .optimizer_step = NULL: the host's AdamW */
    /* .save_state = NULL: stateless, the depth follows from the budget fraction */
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "stacking",
    .name = "Layer stacking (Gong et al., doubling)",
    .version = "1.0.0",
    .description = "Starts at L/4 layers and doubles the stack by copying it on top of itself at 12.5 % and 30 % of the budget",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = stacking_create,
    .destroy = stacking_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
