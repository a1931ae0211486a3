/* libcvec: small dense-matrix, 8-bit image and growable buffer routines. */
#ifndef CVEC_H
#define CVEC_H

#include <stddef.h>
#include <stdint.h>

/* ---- status codes ---- */
#define CVEC_OK 0
#define CVEC_ENOMEM (-1)
#define CVEC_EINVAL (-2)

/* ---- matrix.c: row-major matrices of doubles ---- */
typedef struct {
    size_t rows, cols;
    double *data; /* rows * cols values, row-major */
} cvec_mat;

int cvec_mat_init(cvec_mat *m, size_t rows, size_t cols); /* zero-filled */
void cvec_mat_free(cvec_mat *m);
static inline double cvec_mat_get(const cvec_mat *m, size_t r, size_t c) {
    return m->data[r * m->cols + c];
}
static inline void cvec_mat_set(cvec_mat *m, size_t r, size_t c, double v) {
    m->data[r * m->cols + c] = v;
}
/* dst (cols x rows) = transpose of src (rows x cols). */
int cvec_mat_transpose(const cvec_mat *src, cvec_mat *dst);
/* c (a.rows x b.cols) = a * b; c must not alias a or b. */
int cvec_mat_multiply(const cvec_mat *a, const cvec_mat *b, cvec_mat *c);
/* Sum of all entries. */
double cvec_mat_sum(const cvec_mat *m);

/* ---- image.c: 8-bit grayscale images ---- */
typedef struct {
    size_t width, height;
    uint8_t *pixels; /* width * height, row-major */
} cvec_image;

int cvec_image_init(cvec_image *img, size_t width, size_t height); /* black */
void cvec_image_free(cvec_image *img);
/* Box blur of radius r: each output pixel is the rounded mean of the input pixels in the
 * (2r+1) x (2r+1) window around it, clipped to the image. dst must have src's size and
 * must not alias it. */
int cvec_image_box_blur(const cvec_image *src, cvec_image *dst, int r);
/* Counts of each of the 256 gray levels. */
void cvec_image_histogram(const cvec_image *img, uint64_t counts[256]);

/* ---- buffer.c: a growable array of 64-bit integers ---- */
typedef struct {
    size_t len, cap;
    int64_t *data;
} cvec_buf;

void cvec_buf_init(cvec_buf *b);
void cvec_buf_free(cvec_buf *b);
int cvec_buf_push(cvec_buf *b, int64_t v);
int cvec_buf_extend(cvec_buf *b, const int64_t *vs, size_t n);
int64_t cvec_buf_pop(cvec_buf *b); /* b must not be empty */
static inline int64_t cvec_buf_get(const cvec_buf *b, size_t i) { return b->data[i]; }
static inline size_t cvec_buf_len(const cvec_buf *b) { return b->len; }

#endif
