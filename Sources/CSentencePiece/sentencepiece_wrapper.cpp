#include "ntng_sentencepiece.h"
#include <sentencepiece_processor.h>
extern "C" int ntng_sp_placeholder(void) { return 0; }
