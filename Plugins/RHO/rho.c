/* Placeholder: the RHO method plugin is being written. */
#include "ntng_plugin.h"
