#include <stdlib.h>
#include <string.h>

#include "cvec.h"

int cvec_image_init(cvec_image *img, size_t width, size_t height) {
    img->width = width;
    img->height = height;
    size_t n = width * height;
    img->pixels = calloc(n ? n : 1, 1);
    return img->pixels ? CVEC_OK : CVEC_ENOMEM;
}

void cvec_image_free(cvec_image *img) {
    free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = 0;
}

int cvec_image_box_blur(const cvec_image *src, cvec_image *dst, int r) {
    if (r < 0 || dst->width != src->width || dst->height != src->height ||
        dst->pixels == src->pixels)
        return CVEC_EINVAL;
    long w = (long)src->width, h = (long)src->height;
    for (long y = 0; y < h; y++) {
        for (long x = 0; x < w; x++) {
            uint32_t sum = 0, count = 0;
            for (long dy = -r; dy <= r; dy++) {
                long yy = y + dy;
                if (yy < 0 || yy >= h)
                    continue;
                for (long dx = -r; dx <= r; dx++) {
                    long xx = x + dx;
                    if (xx < 0 || xx >= w)
                        continue;
                    sum += src->pixels[yy * w + xx];
                    count++;
                }
            }
            dst->pixels[y * w + x] = (uint8_t)((sum + count / 2) / count);
        }
    }
    return CVEC_OK;
}

void cvec_image_histogram(const cvec_image *img, uint64_t counts[256]) {
    memset(counts, 0, 256 * sizeof(uint64_t));
    for (size_t i = 0; i < img->width * img->height; i++)
        counts[img->pixels[i]]++;
}
