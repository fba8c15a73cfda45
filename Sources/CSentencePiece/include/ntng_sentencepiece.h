#ifndef NTNG_SENTENCEPIECE_H
#define NTNG_SENTENCEPIECE_H
#ifdef __cplusplus
extern "C" {
#endif
int ntng_sp_placeholder(void);
#ifdef __cplusplus
}
#endif
#endif
