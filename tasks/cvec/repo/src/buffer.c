#include <stdlib.h>

#include "cvec.h"

void cvec_buf_init(cvec_buf *b) {
    b->len = 0;
    b->cap = 0;
    b->data = NULL;
}

void cvec_buf_free(cvec_buf *b) {
    free(b->data);
    cvec_buf_init(b);
}

/* Make room for exactly `need` elements. */
static int reserve(cvec_buf *b, size_t need) {
    if (need <= b->cap)
        return CVEC_OK;
    int64_t *p = realloc(b->data, need * sizeof(int64_t));
    if (!p)
        return CVEC_ENOMEM;
    b->data = p;
    b->cap = need;
    return CVEC_OK;
}

int cvec_buf_push(cvec_buf *b, int64_t v) {
    if (reserve(b, b->len + 1) != CVEC_OK)
        return CVEC_ENOMEM;
    b->data[b->len++] = v;
    return CVEC_OK;
}

int cvec_buf_extend(cvec_buf *b, const int64_t *vs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cvec_buf_push(b, vs[i]) != CVEC_OK)
            return CVEC_ENOMEM;
    return CVEC_OK;
}

int64_t cvec_buf_pop(cvec_buf *b) {
    return b->data[--b->len];
}
