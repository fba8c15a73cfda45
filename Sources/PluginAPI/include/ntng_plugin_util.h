/* ntng_plugin_util.h: small header-only conveniences for C plugins. NOT part of the ABI: nothing
 * here crosses the plugin boundary; every function is static inline over ntng_plugin.h's types,
 * compiled into the plugin that includes it. Plugins may copy, change or ignore it. */
#ifndef NTNG_PLUGIN_UTIL_H
#define NTNG_PLUGIN_UTIL_H

#include <stdint.h>
#include <string.h>

#include "ntng_plugin.h"

/* Reports `message` through set_error and returns `code`: every negative return of a hook (or of
 * create) should say why, since the host shows the text with the plugin's id and the hook. */
static inline ntng_status ntng_fail(const ntng_host *h, ntng_status code, const char *message) {
  h->set_error(h, code, message);
  return code;
}

/* The model's shape and parameter tensor `index`, each zero-filled with struct_size set first (rule
 * V2): the two lookups every optimizer makes. Same status as the services. */
static inline ntng_status ntng_get_model(const ntng_host *h, ntng_model_info *out) {
  memset(out, 0, sizeof *out);
  out->struct_size = sizeof *out;
  return h->get_model_info(h, out);
}

static inline ntng_status ntng_get_param(const ntng_host *h, int32_t index, ntng_param_info *out) {
  memset(out, 0, sizeof *out);
  out->struct_size = sizeof *out;
  return h->param_info(h, index, out);
}

/* Writes all `n` bytes to a state stream (save_state); 1 on success, 0 if the host refused. */
static inline int ntng_write_exact(const ntng_ostream *out, const void *data, uint64_t n) {
  const uint8_t *b = (const uint8_t *)data;
  while (n > 0) {
    int64_t w = out->write(out, b, n);
    if (w <= 0) return 0;
    b += w;
    n -= (uint64_t)w;
  }
  return 1;
}

/* Reads exactly `n` bytes from a state stream (load_state); 1 on success, 0 if it ended early. */
static inline int ntng_read_exact(const ntng_istream *in, void *data, uint64_t n) {
  uint8_t *b = (uint8_t *)data;
  while (n > 0) {
    int64_t r = in->read(in, b, n);
    if (r <= 0) return 0;
    b += r;
    n -= (uint64_t)r;
  }
  return 1;
}

/* Little-endian 64-bit fields, so saved state means the same bytes on every machine. */
static inline void ntng_put_u64(unsigned char *bytes, uint64_t v) {
  for (int k = 0; k < 8; k++) bytes[k] = (unsigned char)(v >> (8 * k));
}

static inline uint64_t ntng_get_u64(const unsigned char *bytes) {
  uint64_t v = 0;
  for (int k = 0; k < 8; k++) v |= (uint64_t)bytes[k] << (8 * k);
  return v;
}

#endif /* NTNG_PLUGIN_UTIL_H */
