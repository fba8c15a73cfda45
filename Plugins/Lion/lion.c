/* Placeholder: the Lion method plugin is being written. */
#include "ntng_plugin.h"
