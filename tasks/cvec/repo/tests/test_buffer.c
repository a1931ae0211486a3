#include "check.h"
#include "cvec.h"

static void test_push_get(void) {
    cvec_buf b;
    cvec_buf_init(&b);
    CHECK(cvec_buf_len(&b) == 0);
    int ok = 1;
    for (int64_t i = 0; i < 5000; i++)
        ok &= cvec_buf_push(&b, i * i - 7) == CVEC_OK;
    CHECK(ok);
    CHECK(cvec_buf_len(&b) == 5000);
    CHECK(b.cap >= b.len);
    ok = 1;
    for (int64_t i = 0; i < 5000; i++)
        ok &= cvec_buf_get(&b, (size_t)i) == i * i - 7;
    CHECK(ok);
    cvec_buf_free(&b);
    CHECK(cvec_buf_len(&b) == 0 && b.data == NULL);
}

static void test_pop_and_extend(void) {
    cvec_buf b;
    cvec_buf_init(&b);
    const int64_t vs[] = {3, -1, 4, -1, 5};
    CHECK(cvec_buf_extend(&b, vs, 5) == CVEC_OK);
    CHECK(cvec_buf_len(&b) == 5);
    CHECK(cvec_buf_pop(&b) == 5);
    CHECK(cvec_buf_pop(&b) == -1);
    CHECK(cvec_buf_len(&b) == 3);
    CHECK(cvec_buf_push(&b, 9) == CVEC_OK);
    CHECK(cvec_buf_get(&b, 3) == 9 && cvec_buf_get(&b, 2) == 4);
    CHECK(cvec_buf_extend(&b, vs, 0) == CVEC_OK);
    CHECK(cvec_buf_len(&b) == 4);
    cvec_buf_free(&b);
}

int main(void) {
    test_push_get();
    test_pop_and_extend();
    return check_done("test_buffer");
}
