/* Placeholder: the Sophia method plugin is being written. */
#include "ntng_plugin.h"
