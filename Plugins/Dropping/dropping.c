/* Placeholder: the Dropping method plugin is being written. */
#include "ntng_plugin.h"
