/* bitmap.c — portable blobs of Roaring bitmaps (see bitmap.h). */
#include "core/index/bitmap.h"

#include <stdlib.h>

void *bitmap_to_blob(const roaring_bitmap_t *b, size_t *len) {
    size_t n = roaring_bitmap_portable_size_in_bytes(b);
    char *blob = malloc(n ? n : 1);
    *len = blob ? roaring_bitmap_portable_serialize(b, blob) : 0;
    return blob;
}

roaring_bitmap_t *bitmap_from_blob(const void *blob, size_t len) {
    return blob ? roaring_bitmap_portable_deserialize_safe(blob, len) : NULL;
}

void bitmap_free(roaring_bitmap_t *b) {
    if (b)
        roaring_bitmap_free(b);
}
