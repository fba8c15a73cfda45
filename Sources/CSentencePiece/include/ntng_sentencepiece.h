// A plain C face for SentencePiece (Debian libsentencepiece-dev), so that no Swift module needs
// C++ interop. Every error comes back as a malloc'd NUL-terminated string that the caller releases
// with ntng_sp_free_string; NULL means success.
#ifndef NTNG_SENTENCEPIECE_H
#define NTNG_SENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An opaque loaded model. Encoding and decoding are const and safe from several threads at once.
typedef struct ntng_sp_processor ntng_sp_processor;

/// Trains a model. `keys`/`values` are SentencePiece trainer flags without the leading dashes
/// (e.g. "input" -> "/tmp/sample.txt", "vocab_size" -> "8192"); passing them as a map rather
/// than a command line keeps paths with spaces intact. Returns NULL on success, else an error.
char *ntng_sp_train(const char *const *keys, const char *const *values, size_t count);

/// Loads a `.model` file. On failure returns NULL and stores an error in *error (if error != NULL).
ntng_sp_processor *ntng_sp_load(const char *path, char **error);

/// Releases a model returned by ntng_sp_load (NULL is ignored).
void ntng_sp_free(ntng_sp_processor *processor);

/// Releases a string returned by this library (NULL is ignored).
void ntng_sp_free_string(char *string);

/// Number of pieces (ids are 0 ..< size).
int32_t ntng_sp_vocab_size(const ntng_sp_processor *processor);

/// Encodes `length` bytes of UTF-8 text. Writes at most `capacity` ids into `ids` and returns the
/// number of ids the text needs (call again with a bigger buffer when that exceeds capacity; a
/// buffer of `length` ids always suffices because every piece covers at least one byte).
/// Returns -1 on error.
int64_t ntng_sp_encode(const ntng_sp_processor *processor, const char *text, size_t length,
                       int32_t *ids, size_t capacity);

/// Decodes ids to text; returns a malloc'd string (NULL on error, with *error set if given).
char *ntng_sp_decode(const ntng_sp_processor *processor, const int32_t *ids, size_t count, char **error);

/// The piece for an id, malloc'd (NULL when the id is out of range).
char *ntng_sp_id_to_piece(const ntng_sp_processor *processor, int32_t id);

/// Special-id queries of the loaded model (-1 where the model has none).
int32_t ntng_sp_unk_id(const ntng_sp_processor *processor);
int32_t ntng_sp_pad_id(const ntng_sp_processor *processor);
int32_t ntng_sp_bos_id(const ntng_sp_processor *processor);
int32_t ntng_sp_eos_id(const ntng_sp_processor *processor);

/// Piece-type queries: 1 when true, 0 otherwise (also for out-of-range ids).
int ntng_sp_is_control(const ntng_sp_processor *processor, int32_t id);
int ntng_sp_is_unknown(const ntng_sp_processor *processor, int32_t id);
int ntng_sp_is_unused(const ntng_sp_processor *processor, int32_t id);

/// Seeds SentencePiece's global random generator (trainer sampling), for reproducible models.
void ntng_sp_set_random_seed(uint32_t seed);

#ifdef __cplusplus
}
#endif
#endif
