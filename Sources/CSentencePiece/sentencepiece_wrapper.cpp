// Implementation of ntng_sentencepiece.h. Exceptions never cross the C boundary: every entry point
// catches and converts them into error strings.
#include "ntng_sentencepiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

struct ntng_sp_processor {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

char *copy_string(const std::string &s) {
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out == nullptr) return nullptr;
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
    return out;
}

void set_error(char **error, const std::string &message) {
    if (error != nullptr) *error = copy_string(message);
}

bool valid_id(const ntng_sp_processor *p, int32_t id) {
    return p != nullptr && id >= 0 && id < p->sp.GetPieceSize();
}

}  // namespace

extern "C" char *ntng_sp_train(const char *const *keys, const char *const *values, size_t count) {
    try {
        std::unordered_map<std::string, std::string> kwargs;
        for (size_t i = 0; i < count; ++i) kwargs[keys[i]] = values[i];
        const auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
        if (status.ok()) return nullptr;
        return copy_string(status.ToString());
    } catch (const std::exception &e) {
        return copy_string(std::string("SentencePiece training failed: ") + e.what());
    } catch (...) {
        return copy_string("SentencePiece training failed with an unknown exception");
    }
}

extern "C" ntng_sp_processor *ntng_sp_load(const char *path, char **error) {
    try {
        auto *p = new ntng_sp_processor();
        const auto status = p->sp.Load(path);
        if (!status.ok()) {
            set_error(error, status.ToString());
            delete p;
            return nullptr;
        }
        return p;
    } catch (const std::exception &e) {
        set_error(error, e.what());
        return nullptr;
    }
}

extern "C" void ntng_sp_free(ntng_sp_processor *processor) { delete processor; }

extern "C" void ntng_sp_free_string(char *string) { std::free(string); }

extern "C" int32_t ntng_sp_vocab_size(const ntng_sp_processor *processor) {
    return processor == nullptr ? 0 : processor->sp.GetPieceSize();
}

extern "C" int64_t ntng_sp_encode(const ntng_sp_processor *processor, const char *text, size_t length,
                                  int32_t *ids, size_t capacity) {
    if (processor == nullptr) return -1;
    try {
        // One vector per thread, reused, so a long encoding pass allocates almost nothing.
        thread_local std::vector<int> buffer;
        buffer.clear();
        const auto status = processor->sp.Encode(std::string_view(text, length), &buffer);
        if (!status.ok()) return -1;
        const size_t n = buffer.size();
        const size_t copy = n < capacity ? n : capacity;
        for (size_t i = 0; i < copy; ++i) ids[i] = static_cast<int32_t>(buffer[i]);
        return static_cast<int64_t>(n);
    } catch (...) {
        return -1;
    }
}

extern "C" char *ntng_sp_decode(const ntng_sp_processor *processor, const int32_t *ids, size_t count,
                                char **error) {
    if (processor == nullptr) {
        set_error(error, "no model");
        return nullptr;
    }
    try {
        std::vector<int> v(ids, ids + count);
        for (int id : v) {
            if (!valid_id(processor, id)) {
                set_error(error, "id " + std::to_string(id) + " is outside the vocabulary");
                return nullptr;
            }
        }
        std::string out;
        const auto status = processor->sp.Decode(v, &out);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return nullptr;
        }
        return copy_string(out);
    } catch (const std::exception &e) {
        set_error(error, e.what());
        return nullptr;
    }
}

extern "C" char *ntng_sp_id_to_piece(const ntng_sp_processor *processor, int32_t id) {
    if (!valid_id(processor, id)) return nullptr;
    return copy_string(processor->sp.IdToPiece(id));
}

extern "C" int32_t ntng_sp_unk_id(const ntng_sp_processor *p) { return p == nullptr ? -1 : p->sp.unk_id(); }
extern "C" int32_t ntng_sp_pad_id(const ntng_sp_processor *p) { return p == nullptr ? -1 : p->sp.pad_id(); }
extern "C" int32_t ntng_sp_bos_id(const ntng_sp_processor *p) { return p == nullptr ? -1 : p->sp.bos_id(); }
extern "C" int32_t ntng_sp_eos_id(const ntng_sp_processor *p) { return p == nullptr ? -1 : p->sp.eos_id(); }

extern "C" int ntng_sp_is_control(const ntng_sp_processor *p, int32_t id) {
    return valid_id(p, id) && p->sp.IsControl(id) ? 1 : 0;
}
extern "C" int ntng_sp_is_unknown(const ntng_sp_processor *p, int32_t id) {
    return valid_id(p, id) && p->sp.IsUnknown(id) ? 1 : 0;
}
extern "C" int ntng_sp_is_unused(const ntng_sp_processor *p, int32_t id) {
    return valid_id(p, id) && p->sp.IsUnused(id) ? 1 : 0;
}

extern "C" void ntng_sp_set_random_seed(uint32_t seed) { sentencepiece::SetRandomGeneratorSeed(seed); }
