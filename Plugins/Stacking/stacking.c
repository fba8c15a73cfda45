/* Placeholder: the Stacking method plugin is being written. */
#include "ntng_plugin.h"
