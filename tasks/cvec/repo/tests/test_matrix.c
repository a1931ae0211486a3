#include <math.h>

#include "check.h"
#include "cvec.h"

static void test_transpose(size_t rows, size_t cols) {
    cvec_mat a, t;
    CHECK(cvec_mat_init(&a, rows, cols) == CVEC_OK);
    CHECK(cvec_mat_init(&t, cols, rows) == CVEC_OK);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            cvec_mat_set(&a, i, j, (double)(i * 1000 + j));
    CHECK(cvec_mat_transpose(&a, &t) == CVEC_OK);
    int ok = 1;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            ok &= cvec_mat_get(&t, j, i) == (double)(i * 1000 + j);
    CHECK(ok);
    cvec_mat_free(&a);
    cvec_mat_free(&t);
}

static void test_transpose_errors(void) {
    cvec_mat a, t;
    cvec_mat_init(&a, 2, 3);
    cvec_mat_init(&t, 2, 3);
    CHECK(cvec_mat_transpose(&a, &t) == CVEC_EINVAL);
    CHECK(cvec_mat_transpose(&a, &a) == CVEC_EINVAL);
    cvec_mat_free(&a);
    cvec_mat_free(&t);
}

static void test_multiply_small(void) {
    cvec_mat a, b, c;
    cvec_mat_init(&a, 2, 3);
    cvec_mat_init(&b, 3, 2);
    cvec_mat_init(&c, 2, 2);
    const double av[] = {1, 2, 3, 4, 5, 6};
    const double bv[] = {7, 8, 9, 10, 11, 12};
    for (int i = 0; i < 6; i++) {
        a.data[i] = av[i];
        b.data[i] = bv[i];
    }
    for (int i = 0; i < 4; i++)
        c.data[i] = 123.0; /* must be overwritten, not accumulated into */
    CHECK(cvec_mat_multiply(&a, &b, &c) == CVEC_OK);
    CHECK(cvec_mat_get(&c, 0, 0) == 58 && cvec_mat_get(&c, 0, 1) == 64);
    CHECK(cvec_mat_get(&c, 1, 0) == 139 && cvec_mat_get(&c, 1, 1) == 154);
    CHECK(cvec_mat_sum(&c) == 415);
    CHECK(cvec_mat_multiply(&a, &a, &c) == CVEC_EINVAL);
    cvec_mat_free(&a);
    cvec_mat_free(&b);
    cvec_mat_free(&c);
}

static void test_multiply_identity(size_t n) {
    cvec_mat a, id, c;
    cvec_mat_init(&a, n, n);
    cvec_mat_init(&id, n, n);
    cvec_mat_init(&c, n, n);
    for (size_t i = 0; i < n; i++) {
        cvec_mat_set(&id, i, i, 1.0);
        for (size_t j = 0; j < n; j++)
            cvec_mat_set(&a, i, j, (double)((i * 7 + j * 3) % 11) - 5.0);
    }
    CHECK(cvec_mat_multiply(&a, &id, &c) == CVEC_OK);
    int ok = 1;
    for (size_t i = 0; i < n * n; i++)
        ok &= c.data[i] == a.data[i];
    CHECK(ok);
    CHECK(cvec_mat_multiply(&id, &a, &c) == CVEC_OK);
    ok = 1;
    for (size_t i = 0; i < n * n; i++)
        ok &= c.data[i] == a.data[i];
    CHECK(ok);
    cvec_mat_free(&a);
    cvec_mat_free(&id);
    cvec_mat_free(&c);
}

static void test_multiply_integers(size_t n, size_t p, size_t m) {
    cvec_mat a, b, c;
    cvec_mat_init(&a, n, p);
    cvec_mat_init(&b, p, m);
    cvec_mat_init(&c, n, m);
    for (size_t i = 0; i < n * p; i++)
        a.data[i] = (double)(i % 5);
    for (size_t i = 0; i < p * m; i++)
        b.data[i] = (double)(i % 3) - 1.0;
    CHECK(cvec_mat_multiply(&a, &b, &c) == CVEC_OK);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            for (size_t k = 0; k < p; k++)
                s += a.data[i * p + k] * b.data[k * m + j];
            ok &= c.data[i * m + j] == s;
        }
    CHECK(ok);
    cvec_mat_free(&a);
    cvec_mat_free(&b);
    cvec_mat_free(&c);
}

int main(void) {
    test_transpose(1, 1);
    test_transpose(3, 5);
    test_transpose(8, 8);
    test_transpose(37, 70);
    test_transpose(100, 33);
    test_transpose_errors();
    test_multiply_small();
    test_multiply_identity(9);
    test_multiply_identity(40);
    test_multiply_integers(7, 13, 5);
    test_multiply_integers(33, 17, 65);
    return check_done("test_matrix");
}
