#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot call.
static inline int montecluster_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);  // zlib or gzip header, detected
}
