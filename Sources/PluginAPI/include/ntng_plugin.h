/* ntng PluginAPI: the C ABI that method plugins compile against. Filled in by the plugin issue. */
#ifndef NTNG_PLUGIN_H
#define NTNG_PLUGIN_H
#include <stdint.h>
#define NTNG_ABI_MAJOR 0
#endif
