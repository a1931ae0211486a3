/* Workload harness: bench/harness <workload-key>
 *
 * Does the workload's setup, times only the measured call with clock_gettime(CLOCK_MONOTONIC)
 * and writes {"seconds": ..., "result": ...} to the path in $OPTAGENT_OUTPUT
 * (default bench-output.json). With OPTAGENT_SETUP_ONLY=1 it does the setup only and writes
 * {"result": null}. Under a profiler, OPTAGENT_PROFILE_REPEAT=N runs the measured section N times
 * inside optagent_measured() (callgrind: --toggle-collect=optagent_measured), reports the mean
 * time per run and adds "repeat": N to the output.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cvec.h"

static uint64_t rng_state;
/* Inputs depend on $OPTAGENT_SEED (0 when unset): the evaluator verifies with a seed the
 * agent's bench tool never uses, so a patch tuned to the inputs it saw gains nothing. */
static uint64_t input_seed(void) {
    const char *s = getenv("OPTAGENT_SEED");
    return s ? strtoull(s, NULL, 10) : 0;
}
static void rng_seed(uint64_t s) {
    rng_state = (s + 1000003ull * input_seed()) * 0x9E3779B97F4A7C15ull + 1;
}
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int setup_only;
static char result[4096];
static long profile_repeat = 1; /* $OPTAGENT_PROFILE_REPEAT, default 1 */

static void die(const char *msg) {
    fprintf(stderr, "harness: %s\n", msg);
    exit(1);
}

/* The measured section: section(arg) profile_repeat times, timed; profilers find it by this
 * function's name. Returns the mean seconds per run. */
__attribute__((noinline)) double optagent_measured(void (*section)(void *), void *arg) {
    double t0 = now();
    for (long i = 0; i < profile_repeat; i++)
        section(arg);
    double t1 = now();
    return (t1 - t0) / (double)profile_repeat;
}

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* ---------------------------------------------------------------- workloads */

static void sec_matrix_transpose(void *p) {
    cvec_mat **m = p;
    if (cvec_mat_transpose(m[0], m[1]) != CVEC_OK)
        die("transpose failed");
}

static double wl_matrix_transpose(void) {
    const size_t rows = 3000, cols = 3000;
    cvec_mat a, t;
    if (cvec_mat_init(&a, rows, cols) || cvec_mat_init(&t, cols, rows))
        die("out of memory");
    rng_seed(1);
    for (size_t i = 0; i < rows * cols; i++) {
        a.data[i] = (double)(rng_next() % 100000);
        t.data[i] = -1.0; /* fault the output pages in before timing */
    }
    if (setup_only)
        return 0;
    cvec_mat *args[2] = {&a, &t};
    double seconds = optagent_measured(sec_matrix_transpose, args);
    uint64_t weighted = 0;
    for (size_t i = 0; i < rows * cols; i++)
        weighted += (uint64_t)t.data[i] * (i % 31 + 1);
    snprintf(result, sizeof result,
             "{\"weighted\": %" PRIu64 ", \"first\": %.17g, \"last\": %.17g, \"mid\": %.17g}",
             weighted, t.data[0], t.data[rows * cols - 1], t.data[rows * cols / 2 + 7]);
    cvec_mat_free(&a);
    cvec_mat_free(&t);
    return seconds;
}

static void sec_matrix_multiply(void *p) {
    cvec_mat **m = p;
    if (cvec_mat_multiply(m[0], m[1], m[2]) != CVEC_OK)
        die("multiply failed");
}

static double wl_matrix_multiply(void) {
    const size_t n = 320;
    cvec_mat a, b, c;
    if (cvec_mat_init(&a, n, n) || cvec_mat_init(&b, n, n) || cvec_mat_init(&c, n, n))
        die("out of memory");
    rng_seed(2);
    for (size_t i = 0; i < n * n; i++) {
        a.data[i] = rng_unit();
        b.data[i] = rng_unit();
    }
    if (setup_only)
        return 0;
    cvec_mat *args[3] = {&a, &b, &c};
    double seconds = optagent_measured(sec_matrix_multiply, args);
    snprintf(result, sizeof result,
             "{\"sum\": %.17g, \"c00\": %.17g, \"c_mid\": %.17g, \"c_last\": %.17g}",
             cvec_mat_sum(&c), c.data[0], c.data[n * n / 2 + n / 3], c.data[n * n - 1]);
    cvec_mat_free(&a);
    cvec_mat_free(&b);
    cvec_mat_free(&c);
    return seconds;
}

struct blur_args {
    const cvec_image *src;
    cvec_image *dst;
    int r;
};

static void sec_image_blur(void *p) {
    struct blur_args *a = p;
    if (cvec_image_box_blur(a->src, a->dst, a->r) != CVEC_OK)
        die("blur failed");
}

static double wl_image_blur(void) {
    const size_t w = 2000, h = 1500;
    const int r = 3;
    cvec_image src, dst;
    if (cvec_image_init(&src, w, h) || cvec_image_init(&dst, w, h))
        die("out of memory");
    memset(dst.pixels, 0xff, w * h);
    rng_seed(3);
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            src.pixels[y * w + x] = (uint8_t)(((x * 3 + y * 5) & 0xff) / 2 + rng_next() % 128);
    if (setup_only)
        return 0;
    struct blur_args args = {&src, &dst, r};
    double seconds = optagent_measured(sec_image_blur, &args);
    uint64_t hist[256];
    cvec_image_histogram(&dst, hist);
    uint64_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum += hist[i] * (uint64_t)i;
    snprintf(result, sizeof result,
             "{\"fnv1a\": \"%016" PRIx64 "\", \"sum\": %" PRIu64 ", \"corner\": %u, \"center\": %u}",
             fnv1a(dst.pixels, w * h), sum, dst.pixels[0], dst.pixels[(h / 2) * w + w / 2]);
    cvec_image_free(&src);
    cvec_image_free(&dst);
    return seconds;
}

enum { BUFFERS = 400, PER_BUFFER = 10000 };

struct append_args {
    const int64_t *vals;
    uint64_t h, lens;
    int64_t last_first, last_last;
};

static void sec_buffer_append(void *p) {
    struct append_args *a = p;
    a->h = a->lens = 0;
    for (size_t k = 0; k < BUFFERS; k++) {
        cvec_buf b;
        cvec_buf_init(&b);
        const int64_t *v = a->vals + k * PER_BUFFER;
        for (size_t i = 0; i < PER_BUFFER; i++)
            if (cvec_buf_push(&b, v[i]) != CVEC_OK)
                die("push failed");
        /* fold each buffer in before it is freed (cheap next to the pushes) */
        a->lens += cvec_buf_len(&b);
        a->h = a->h * 1000003u + (uint64_t)cvec_buf_get(&b, k % PER_BUFFER);
        a->last_first = cvec_buf_get(&b, 0);
        a->last_last = cvec_buf_get(&b, cvec_buf_len(&b) - 1);
        cvec_buf_free(&b);
    }
}

static double wl_buffer_append(void) {
    /* Fill many moderately sized buffers one push at a time, as a parser or a filter would. */
    const size_t n = (size_t)BUFFERS * PER_BUFFER;
    int64_t *vals = malloc(n * sizeof *vals);
    if (!vals)
        die("out of memory");
    rng_seed(4);
    for (size_t i = 0; i < n; i++)
        vals[i] = (int64_t)(rng_next() >> 24) - ((int64_t)1 << 39);
    if (setup_only) {
        free(vals);
        return 0;
    }
    struct append_args args = {vals, 0, 0, 0, 0};
    double seconds = optagent_measured(sec_buffer_append, &args);
    snprintf(result, sizeof result,
             "{\"buffers\": %d, \"len\": %" PRIu64 ", \"hash\": \"%016" PRIx64 "\", \"first\": %" PRId64
             ", \"last\": %" PRId64 "}",
             BUFFERS, args.lens, args.h, args.last_first, args.last_last);
    free(vals);
    return seconds;
}

/* ---------------------------------------------------------------- driver */

static const struct {
    const char *key;
    double (*fn)(void);
} workloads[] = {
    {"matrix_transpose", wl_matrix_transpose},
    {"matrix_multiply", wl_matrix_multiply},
    {"image_blur", wl_image_blur},
    {"buffer_append", wl_buffer_append},
};

static void mkdirs_for(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        die("output path too long");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                die("cannot create output directory");
            *p = '/';
        }
    }
}

int main(int argc, char **argv) {
    size_t nw = sizeof workloads / sizeof workloads[0];
    double (*fn)(void) = NULL;
    if (argc == 2)
        for (size_t i = 0; i < nw; i++)
            if (strcmp(argv[1], workloads[i].key) == 0)
                fn = workloads[i].fn;
    if (!fn) {
        fprintf(stderr, "usage: bench/harness {");
        for (size_t i = 0; i < nw; i++)
            fprintf(stderr, "%s%s", i ? "," : "", workloads[i].key);
        fprintf(stderr, "}\n");
        return 2;
    }
    const char *so = getenv("OPTAGENT_SETUP_ONLY");
    setup_only = so && strcmp(so, "1") == 0;
    const char *rep_env = getenv("OPTAGENT_PROFILE_REPEAT");
    if (rep_env && *rep_env) {
        char *end;
        errno = 0;
        profile_repeat = strtol(rep_env, &end, 10);
        if (errno || *end || profile_repeat < 1) {
            fprintf(stderr, "harness: OPTAGENT_PROFILE_REPEAT must be a positive integer, not '%s'\n",
                    rep_env);
            return 2;
        }
    }
    const char *out = getenv("OPTAGENT_OUTPUT");
    if (!out || !*out)
        out = "bench-output.json";

    double seconds = fn();

    mkdirs_for(out);
    FILE *f = fopen(out, "w");
    if (!f)
        die("cannot open output file");
    if (setup_only)
        fprintf(f, "{\"result\": null}\n");
    else if (rep_env)
        fprintf(f, "{\"seconds\": %.9f, \"repeat\": %ld, \"result\": %s}\n", seconds,
                profile_repeat, result);
    else
        fprintf(f, "{\"seconds\": %.9f, \"result\": %s}\n", seconds, result);
    if (fclose(f) != 0)
        die("cannot write output file");
    return 0;
}
