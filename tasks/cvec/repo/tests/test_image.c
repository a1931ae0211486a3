#include <stdlib.h>

#include "check.h"
#include "cvec.h"

/* The definition, written out independently. */
static uint8_t ref_pixel(const cvec_image *img, long x, long y, int r) {
    long w = (long)img->width, h = (long)img->height;
    unsigned sum = 0, count = 0;
    for (long yy = y - r; yy <= y + r; yy++)
        for (long xx = x - r; xx <= x + r; xx++)
            if (xx >= 0 && xx < w && yy >= 0 && yy < h) {
                sum += img->pixels[yy * w + xx];
                count++;
            }
    return (uint8_t)((sum + count / 2) / count);
}

static void test_blur_matches_reference(size_t w, size_t h, int r, unsigned seed) {
    cvec_image src, dst;
    CHECK(cvec_image_init(&src, w, h) == CVEC_OK);
    CHECK(cvec_image_init(&dst, w, h) == CVEC_OK);
    srand(seed);
    for (size_t i = 0; i < w * h; i++)
        src.pixels[i] = (uint8_t)(rand() & 0xff);
    CHECK(cvec_image_box_blur(&src, &dst, r) == CVEC_OK);
    int ok = 1;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            ok &= dst.pixels[y * w + x] == ref_pixel(&src, (long)x, (long)y, r);
    CHECK(ok);
    cvec_image_free(&src);
    cvec_image_free(&dst);
}

static void test_blur_constant(void) {
    cvec_image src, dst;
    cvec_image_init(&src, 13, 9);
    cvec_image_init(&dst, 13, 9);
    for (size_t i = 0; i < 13 * 9; i++)
        src.pixels[i] = 77;
    CHECK(cvec_image_box_blur(&src, &dst, 3) == CVEC_OK);
    int ok = 1;
    for (size_t i = 0; i < 13 * 9; i++)
        ok &= dst.pixels[i] == 77;
    CHECK(ok);
    CHECK(cvec_image_box_blur(&src, &dst, -1) == CVEC_EINVAL);
    CHECK(cvec_image_box_blur(&src, &src, 1) == CVEC_EINVAL);
    cvec_image_free(&src);
    cvec_image_free(&dst);
}

static void test_blur_small_by_hand(void) {
    /* 3x2 image, radius 1: every window covers the whole image except at the edges. */
    cvec_image src, dst;
    cvec_image_init(&src, 3, 2);
    cvec_image_init(&dst, 3, 2);
    const uint8_t px[] = {0, 10, 20, 30, 40, 50};
    for (int i = 0; i < 6; i++)
        src.pixels[i] = px[i];
    CHECK(cvec_image_box_blur(&src, &dst, 1) == CVEC_OK);
    /* (0,0): {0,10,30,40} -> 20; (1,0): all six -> 25; (2,0): {10,20,40,50} -> 30 */
    CHECK(dst.pixels[0] == 20 && dst.pixels[1] == 25 && dst.pixels[2] == 30);
    CHECK(dst.pixels[3] == 20 && dst.pixels[4] == 25 && dst.pixels[5] == 30);
    CHECK(cvec_image_box_blur(&src, &dst, 0) == CVEC_OK);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= dst.pixels[i] == px[i];
    CHECK(ok);
    cvec_image_free(&src);
    cvec_image_free(&dst);
}

static void test_histogram(void) {
    cvec_image img;
    cvec_image_init(&img, 4, 4);
    for (int i = 0; i < 16; i++)
        img.pixels[i] = (uint8_t)(i % 3);
    uint64_t counts[256];
    cvec_image_histogram(&img, counts);
    CHECK(counts[0] == 6 && counts[1] == 5 && counts[2] == 5 && counts[3] == 0);
    cvec_image_free(&img);
}

int main(void) {
    test_blur_small_by_hand();
    test_blur_constant();
    test_blur_matches_reference(17, 11, 1, 1);
    test_blur_matches_reference(31, 40, 2, 2);
    test_blur_matches_reference(64, 48, 4, 3);
    test_blur_matches_reference(5, 7, 6, 4); /* radius larger than the image */
    test_blur_matches_reference(1, 1, 2, 5);
    test_histogram();
    return check_done("test_image");
}
