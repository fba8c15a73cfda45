#include "ntng_plugin.h"
