#include <stdlib.h>

#include "cvec.h"

int cvec_mat_init(cvec_mat *m, size_t rows, size_t cols) {
    m->rows = rows;
    m->cols = cols;
    size_t n = rows * cols;
    m->data = calloc(n ? n : 1, sizeof(double));
    return m->data ? CVEC_OK : CVEC_ENOMEM;
}

void cvec_mat_free(cvec_mat *m) {
    free(m->data);
    m->data = NULL;
    m->rows = m->cols = 0;
}

int cvec_mat_transpose(const cvec_mat *src, cvec_mat *dst) {
    if (dst->rows != src->cols || dst->cols != src->rows || dst->data == src->data)
        return CVEC_EINVAL;
    for (size_t i = 0; i < src->rows; i++)
        for (size_t j = 0; j < src->cols; j++)
            dst->data[j * dst->cols + i] = src->data[i * src->cols + j];
    return CVEC_OK;
}

int cvec_mat_multiply(const cvec_mat *a, const cvec_mat *b, cvec_mat *c) {
    if (a->cols != b->rows || c->rows != a->rows || c->cols != b->cols)
        return CVEC_EINVAL;
    if (c->data == a->data || c->data == b->data)
        return CVEC_EINVAL;
    size_t n = a->rows, m = b->cols, p = a->cols;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m; j++) {
            double s = 0.0;
            for (size_t k = 0; k < p; k++)
                s += a->data[i * p + k] * b->data[k * m + j];
            c->data[i * m + j] = s;
        }
    }
    return CVEC_OK;
}

double cvec_mat_sum(const cvec_mat *m) {
    double s = 0.0;
    for (size_t i = 0; i < m->rows * m->cols; i++)
        s += m->data[i];
    return s;
}
