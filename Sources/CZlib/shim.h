// zlib from Debian's zlib1g-dev, for gzip/dictzip corpus files and R's zlib-compressed data.
#include <zlib.h>
