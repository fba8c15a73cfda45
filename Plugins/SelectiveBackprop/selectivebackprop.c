/* Placeholder: the SelectiveBackprop method plugin is being written. */
#include "ntng_plugin.h"
