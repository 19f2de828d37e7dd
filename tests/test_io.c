/* tests/test_io.c - the core's file formats: .npy and safetensors round trips, hand-built files
 * our writers would never produce (other .npy versions, int64 arrays, BF16 tensors), every kind
 * of bad input the formats can meet (each must fail with one line naming the file), and atomic
 * replacement. Datasets and the sampler are in test_dataset.c; main() runs both suites.
 * Fixtures are made in a fresh temporary folder per test case. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_fixtures.h"
#include "io_util.h"
#include "npy.h"
#include "safetensors.h"
#include "rng.h"

Suite *dataset_suite(void);
Suite *builder_suite(void);

static char err[1024];

/* ---- npy ---------------------------------------------------------------------------------- */

START_TEST(test_npy_roundtrip) {
    uint8_t u8[3 * 4];
    int32_t i32[5] = {0, -1, 2147483647, -2147483647 - 1, 42};
    float f32[2 * 3 * 2];
    for (int i = 0; i < 12; i++) u8[i] = (uint8_t)(i * 21), f32[i] = (float)i * 0.5f - 3.0f;
    int64_t s_u8[2] = {3, 4}, s_i32[1] = {5}, s_f32[3] = {2, 3, 2};
    ck_assert_int_eq(hrm_npy_write(fx_path("u8.npy"), HRM_NPY_U8, 2, s_u8, u8, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_write(fx_path("i32.npy"), HRM_NPY_I32, 1, s_i32, i32, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_write(fx_path("f32.npy"), HRM_NPY_F32, 3, s_f32, f32, err, sizeof err), HRM_OK);
    hrm_npy_array a;
    ck_assert_int_eq(hrm_npy_read(fx_path("u8.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert(a.dtype == HRM_NPY_U8 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 4 && a.count == 12);
    ck_assert_str_eq(a.descr, "|u1");
    ck_assert_mem_eq(a.data, u8, sizeof u8);
    hrm_npy_free(&a);
    ck_assert_int_eq(hrm_npy_read(fx_path("i32.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert(a.dtype == HRM_NPY_I32 && a.ndim == 1 && a.shape[0] == 5);
    ck_assert_mem_eq(a.data, i32, sizeof i32);
    hrm_npy_free(&a);
    ck_assert_int_eq(hrm_npy_read(fx_path("f32.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert(a.dtype == HRM_NPY_F32 && a.ndim == 3 && a.shape[2] == 2 && a.count == 12);
    ck_assert_mem_eq(a.data, f32, sizeof f32);
    hrm_npy_free(&a);
    ck_assert(!fx_exists(fx_path("f32.npy.tmp")));
}
END_TEST

/* The streaming writer: pieces in, the same file as one hrm_npy_write; too much or too little data
 * is an error that leaves neither the file nor FILE.tmp. */
START_TEST(test_npy_writer_streams) {
    float f32[4 * 3];
    for (int i = 0; i < 12; i++) f32[i] = (float)i * 0.25f - 1.0f;
    int64_t shape[2] = {4, 3};
    hrm_npy_writer w;
    ck_assert_int_eq(hrm_npy_writer_open(&w, fx_path("s.npy"), HRM_NPY_F32, 2, shape, err, sizeof err), HRM_OK);
    ck_assert(!fx_exists(fx_path("s.npy")));
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32, 3 * sizeof(float), err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32 + 3, 0, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32 + 3, 9 * sizeof(float), err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_commit(&w, err, sizeof err), HRM_OK);
    hrm_npy_writer_abort(&w); /* after commit: nothing */
    ck_assert_int_eq(hrm_npy_write(fx_path("w.npy"), HRM_NPY_F32, 2, shape, f32, err, sizeof err), HRM_OK);
    size_t n1, n2;
    unsigned char *a = fx_read(fx_path("s.npy"), &n1), *b = fx_read(fx_path("w.npy"), &n2);
    ck_assert(n1 == n2);
    ck_assert_mem_eq(a, b, n1);
    free(a);
    free(b);

    ck_assert_int_eq(hrm_npy_writer_open(&w, fx_path("short.npy"), HRM_NPY_F32, 2, shape, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32, 11 * sizeof(float), err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_commit(&w, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert(strstr(err, "short.npy") && strstr(err, "short of the shape"));
    ck_assert(!fx_exists(fx_path("short.npy")) && !fx_exists(fx_path("short.npy.tmp")));
    ck_assert_int_eq(hrm_npy_writer_open(&w, fx_path("long.npy"), HRM_NPY_F32, 2, shape, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32, 12 * sizeof(float), err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_writer_append(&w, f32, sizeof(float), err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert(strstr(err, "long.npy") && strstr(err, "more data"));
    hrm_npy_writer_abort(&w);
    ck_assert(!fx_exists(fx_path("long.npy")) && !fx_exists(fx_path("long.npy.tmp")));
}
END_TEST

/* What numpy writes: version 1.0, a 64-byte aligned header, the dict in numpy's spelling. */
START_TEST(test_npy_header_layout) {
    int64_t shape[2] = {1000, 81};
    uint8_t *data = calloc(81000, 1);
    size_t n;
    ck_assert_int_eq(hrm_npy_write(fx_path("x.npy"), HRM_NPY_U8, 2, shape, data, err, sizeof err), HRM_OK);
    unsigned char *bytes = fx_read(fx_path("x.npy"), &n);
    size_t hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_uint_eq(n, 10 + hlen + 81000);
    ck_assert_mem_eq(bytes, "\x93NUMPY\x01\x00", 8);
    ck_assert(strstr((char *)bytes + 10, "{'descr': '|u1', 'fortran_order': False, 'shape': (1000, 81), }") != NULL);
    ck_assert_int_eq(bytes[10 + hlen - 1], '\n');
    free(bytes);
    free(data);
}
END_TEST

/* Versions 2.0 and 3.0, and integer types that are narrowed to int32 or widened from 1-2 bytes. */
START_TEST(test_npy_versions_and_int_types) {
    int64_t i8[3] = {7, -3, 2000000000};
    uint16_t u2[2] = {65535, 1};
    int8_t i1[2] = {-128, 127};
    hrm_npy_array a;
    fx_npy_raw(fx_path("v2.npy"), 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i8, sizeof i8);
    ck_assert_int_eq(hrm_npy_read(fx_path("v2.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert(a.dtype == HRM_NPY_I32 && a.count == 3);
    ck_assert_int_eq(((int32_t *)a.data)[1], -3);
    ck_assert_int_eq(((int32_t *)a.data)[2], 2000000000);
    ck_assert_str_eq(a.descr, "<i8");
    hrm_npy_free(&a);
    fx_npy_raw(fx_path("v3.npy"), 3, "{'shape': (2,), 'fortran_order': False, 'descr': '<u2'}", u2, sizeof u2);
    ck_assert_int_eq(hrm_npy_read(fx_path("v3.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert_int_eq(((int32_t *)a.data)[0], 65535);
    hrm_npy_free(&a);
    fx_npy_raw(fx_path("i1.npy"), 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,)}", i1, sizeof i1);
    ck_assert_int_eq(hrm_npy_read(fx_path("i1.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert_int_eq(((int32_t *)a.data)[0], -128);
    hrm_npy_free(&a);
    fx_npy_raw(fx_path("scalar.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", "\0\0\x80\x3f", 4);
    ck_assert_int_eq(hrm_npy_read(fx_path("scalar.npy"), &a, err, sizeof err), HRM_OK);
    ck_assert(a.ndim == 0 && a.count == 1 && ((float *)a.data)[0] == 1.0f);
    hrm_npy_free(&a);
}
END_TEST

START_TEST(test_npy_int64_out_of_range) {
    int64_t i8[2] = {1, 3000000000};
    hrm_npy_array a;
    fx_npy_raw(fx_path("big.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8, sizeof i8);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("big.npy"), &a, err, sizeof err), err, "big.npy", "does not fit in int32");
    ck_assert_ptr_null(a.data);
}
END_TEST

START_TEST(test_npy_truncated) {
    int64_t shape[2] = {1000, 81};
    uint8_t *data = calloc(81000, 1);
    hrm_npy_array a;
    ck_assert_int_eq(hrm_npy_write(fx_path("data.npy"), HRM_NPY_U8, 2, shape, data, err, sizeof err), HRM_OK);
    ck_assert_int_eq(truncate(fx_path("data.npy"), 128 + 4096), 0);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("data.npy"), &a, err, sizeof err), err, "data.npy",
                    "truncated: header says 1000 x 81 uint8");
    ck_assert(strstr(err, "81000 bytes") && strstr(err, "4096"));
    ck_assert_int_eq(truncate(fx_path("data.npy"), 40), 0); /* inside the header */
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("data.npy"), &a, err, sizeof err), err, "data.npy", "truncated");
    ck_assert_int_eq(truncate(fx_path("data.npy"), 5), 0); /* inside the preamble */
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("data.npy"), &a, err, sizeof err), err, "data.npy", "truncated");
    free(data);
}
END_TEST

START_TEST(test_npy_trailing_bytes) {
    fx_npy_raw(fx_path("long.npy"), 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "abcd", 4);
    hrm_npy_array a;
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("long.npy"), &a, err, sizeof err), err, "long.npy", "trailing bytes");
}
END_TEST

START_TEST(test_npy_bad_magic) {
    fx_write(fx_path("magic.npy"), "\x93NUMPZ\x01\x00\x10\x00{}              ", 26);
    hrm_npy_array a;
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("magic.npy"), &a, err, sizeof err), err, "magic.npy", "bad magic");
    fx_write(fx_path("version.npy"), "\x93NUMPY\x09\x00\x10\x00{}              ", 26);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("version.npy"), &a, err, sizeof err), err, "version.npy", "version 9.0");
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("missing.npy"), &a, err, sizeof err), err, "missing.npy", "cannot open");
}
END_TEST

START_TEST(test_npy_bad_dtype) {
    double f8[2] = {1, 2};
    hrm_npy_array a;
    fx_npy_raw(fx_path("labels.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8, sizeof f8);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("labels.npy"), &a, err, sizeof err), err, "labels.npy",
                    "unsupported dtype '<f8'");
    fx_npy_raw(fx_path("big_endian.npy"), 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", f8, 8);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("big_endian.npy"), &a, err, sizeof err), err, "big_endian.npy", "'>i4'");
    fx_npy_raw(fx_path("struct.npy"), 1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,), }", f8, 8);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("struct.npy"), &a, err, sizeof err), err, "struct.npy", "descr");
}
END_TEST

START_TEST(test_npy_fortran_order) {
    int32_t x[4] = {1, 2, 3, 4};
    hrm_npy_array a;
    fx_npy_raw(fx_path("f.npy"), 1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }", x, sizeof x);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("f.npy"), &a, err, sizeof err), err, "f.npy", "Fortran");
}
END_TEST

START_TEST(test_npy_bad_headers) {
    static const char *const dicts[] = {
        "{'descr': '<i4', 'shape': (2,), }",                                       /* key missing */
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}",         /* extra key */
        "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", /* repeated */
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2), }",                /* not a tuple */
        "{'descr': '<i4', 'fortran_order': False, 'shape': (-2,), }",              /* negative */
        "{'descr': '<i4', 'fortran_order': 0, 'shape': (2,), }",                   /* not a bool */
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), } junk",          /* trailing */
        "['descr', '<i4']",                                                        /* not a dict */
    };
    hrm_npy_array a;
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) {
        fx_npy_raw(fx_path("h.npy"), 1, dicts[i], "\1\0\0\0\2\0\0\0", 8);
        FX_EXPECT_ERROR(hrm_npy_read(fx_path("h.npy"), &a, err, sizeof err), err, "h.npy", "bad header");
    }
}
END_TEST

START_TEST(test_npy_absurd_sizes) {
    hrm_npy_array a;
    /* version 2.0 header length of 4 GB - 16 */
    fx_write(fx_path("hlen.npy"), "\x93NUMPY\x02\x00\xf0\xff\xff\xff{}", 14);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("hlen.npy"), &a, err, sizeof err), err, "hlen.npy", "header length");
    /* a header length that runs past the end of a small file */
    fx_write(fx_path("short.npy"), "\x93NUMPY\x01\x00\x00\x10{}", 12);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("short.npy"), &a, err, sizeof err), err, "short.npy", "runs past the end");
    /* a shape whose element count overflows */
    fx_npy_raw(fx_path("shape.npy"), 1,
               "{'descr': '<i4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", "",
               0);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("shape.npy"), &a, err, sizeof err), err, "shape.npy", "too large");
    fx_npy_raw(fx_path("bytes.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
               "", 0);
    FX_EXPECT_ERROR(hrm_npy_read(fx_path("bytes.npy"), &a, err, sizeof err), err, "bytes.npy", "too large");
}
END_TEST

/* A .npy file with exactly these header bytes (no padding, no newline added) and version. */
static void npy_exact(const char *path, int major, int minor, const char *header, size_t hlen, const void *data,
                      size_t bytes) {
    size_t prefix = major == 1 ? 10 : 12;
    unsigned char *buf = calloc(1, prefix + hlen + bytes + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + prefix, header, hlen);
    if (bytes) memcpy(buf + prefix + hlen, data, bytes);
    fx_write(path, buf, prefix + hlen + bytes);
    free(buf);
}

#define NPY_GOOD "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
static const int32_t NPY_GOOD_DATA[2] = {1, 2};

/* Expects path to read as NPY_GOOD. */
static void expect_npy_good(const char *path) {
    hrm_npy_array a;
    ck_assert_msg(hrm_npy_read(path, &a, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(a.dtype == HRM_NPY_I32 && a.ndim == 1 && a.shape[0] == 2);
    ck_assert(((int32_t *)a.data)[0] == 1 && ((int32_t *)a.data)[1] == 2);
    hrm_npy_free(&a);
}

/* What numpy's reader accepts although writers never produce it: no 64-byte alignment, no final
 * newline, whitespace before the dict, "3L" in versions 1.0 and 2.0, a shape of "00". */
START_TEST(test_npy_loose_layout) {
    const char *path = fx_path("l.npy");
    hrm_npy_array a;
    npy_exact(path, 1, 0, NPY_GOOD, strlen(NPY_GOOD), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    expect_npy_good(path);
    npy_exact(path, 3, 0, " \n\t" NPY_GOOD "\r\n", strlen(NPY_GOOD) + 5, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    expect_npy_good(path);
    static const char longs[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (2L,), }";
    npy_exact(path, 1, 0, longs, strlen(longs), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    expect_npy_good(path);
    npy_exact(path, 2, 0, longs, strlen(longs), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    expect_npy_good(path);
    fx_npy_raw(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (00, 2), }", "", 0);
    ck_assert_msg(hrm_npy_read(path, &a, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(a.count == 0 && a.shape[0] == 0);
    hrm_npy_free(&a);
}
END_TEST

/* numpy's _check_version: only 1.0, 2.0 and 3.0; the good file with another minor version. */
START_TEST(test_npy_minor_version) {
    const char *path = fx_path("minor.npy");
    hrm_npy_array a;
    npy_exact(path, 1, 1, NPY_GOOD, strlen(NPY_GOOD), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "minor.npy", "version 1.1");
    npy_exact(path, 3, 1, NPY_GOOD, strlen(NPY_GOOD), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "minor.npy", "version 3.1");
    ck_assert_ptr_null(a.data);
}
END_TEST

/* numpy's max_header_size: a header of 10000 bytes is read, one of 10001 is not (the good
 * header padded with spaces). */
START_TEST(test_npy_header_limit) {
    const char *path = fx_path("hl.npy");
    char *header = malloc(10001);
    hrm_npy_array a;
    memset(header, ' ', 10001);
    memcpy(header, NPY_GOOD, strlen(NPY_GOOD));
    npy_exact(path, 1, 0, header, 10000, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    expect_npy_good(path);
    npy_exact(path, 1, 0, header, 10001, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "hl.npy", "header length 10001 is too large");
    npy_exact(path, 2, 0, header, 10001, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "hl.npy", "header length 10001 is too large");
    free(header);
}
END_TEST

/* Integers as Python 3 reads them: "02" is a SyntaxError, and in version 3.0 (read without
 * numpy's Python 2 filter) so is "2L". The good header with the shape spelled so. */
START_TEST(test_npy_python3_ints) {
    static const char zero[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (02,), }";
    static const char longs[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (2L,), }";
    const char *path = fx_path("int.npy");
    hrm_npy_array a;
    npy_exact(path, 1, 0, zero, strlen(zero), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "int.npy", "leading zeros");
    npy_exact(path, 3, 0, longs, strlen(longs), NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "int.npy", "bad header");
}
END_TEST

/* Python refuses a NUL byte in the header; here it would cut the string before it. The good
 * header with a NUL after '<i4' and after 'shape'. */
START_TEST(test_npy_nul_in_header) {
    static const char descr[] = "{'descr': '<i4\0', 'fortran_order': False, 'shape': (2,), }";
    static const char key[] = "{'descr': '<i4', 'fortran_order': False, 'shape\0': (2,), }";
    const char *path = fx_path("nul.npy");
    hrm_npy_array a;
    npy_exact(path, 1, 0, descr, sizeof descr - 1, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "nul.npy", "'descr' is not");
    npy_exact(path, 1, 0, key, sizeof key - 1, NPY_GOOD_DATA, sizeof NPY_GOOD_DATA);
    FX_EXPECT_ERROR(hrm_npy_read(path, &a, err, sizeof err), err, "nul.npy", "bad header");
}
END_TEST

/* ---- atomic replacement ------------------------------------------------------------------- */

START_TEST(test_atomic_replace) {
    int32_t old[2] = {1, 2}, new[3] = {7, 8, 9};
    int64_t s2 = 2, s3 = 3;
    hrm_npy_array a;
    const char *path = fx_path("state.npy"), *tmp = fx_path("state.npy.tmp");
    ck_assert_int_eq(hrm_npy_write(path, HRM_NPY_I32, 1, &s2, old, err, sizeof err), HRM_OK);
    ck_assert_int_eq(hrm_npy_write(path, HRM_NPY_I32, 1, &s3, new, err, sizeof err), HRM_OK);
    ck_assert(!fx_exists(tmp));
    ck_assert_int_eq(hrm_npy_read(path, &a, err, sizeof err), HRM_OK);
    ck_assert(a.count == 3 && ((int32_t *)a.data)[2] == 9);
    hrm_npy_free(&a);
    /* A write that cannot create its temporary file fails and leaves the old file intact (a
     * folder in the way fails even for root, unlike a read-only folder). */
    ck_assert_int_eq(mkdir(tmp, 0700), 0);
    FX_EXPECT_ERROR(hrm_npy_write(path, HRM_NPY_I32, 1, &s2, old, err, sizeof err), err, "state.npy", "cannot create");
    ck_assert_int_eq(hrm_npy_read(path, &a, err, sizeof err), HRM_OK);
    ck_assert(a.count == 3 && ((int32_t *)a.data)[0] == 7);
    hrm_npy_free(&a);
    ck_assert_int_eq(rmdir(tmp), 0);
    /* A write into a missing folder fails with the file named. */
    FX_EXPECT_ERROR(hrm_npy_write(fx_path("no/such/dir.npy"), HRM_NPY_I32, 1, &s2, old, err, sizeof err), err,
                    "dir.npy", "cannot create");
}
END_TEST

/* A write that fails part way (the disk is full) removes its temporary file and keeps the old. */
START_TEST(test_atomic_write_failure) {
    hrm_atomic_file af;
    const char *path = fx_path("keep.bin");
    fx_write(path, "old", 3);
    ck_assert_int_eq(hrm_atomic_open(&af, path, err, sizeof err), HRM_OK);
    ck_assert(fx_exists(fx_path("keep.bin.tmp")));
    hrm_atomic_abort(&af);
    ck_assert(!fx_exists(fx_path("keep.bin.tmp")));
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(hrm_atomic_open(&af, path, err, sizeof err), HRM_OK);
        fclose(af.f);
        af.f = fopen("/dev/full", "wb");
        char big[1 << 16] = {0};
        hrm_status s = hrm_atomic_write(&af, big, sizeof big, err, sizeof err);
        if (!s) s = hrm_atomic_commit(&af, err, sizeof err);
        FX_EXPECT_ERROR(s, err, "keep.bin", "failed");
        ck_assert(!fx_exists(fx_path("keep.bin.tmp")));
    }
    size_t n;
    char *data = fx_read(path, &n);
    ck_assert(n == 3 && !memcmp(data, "old", 3));
    free(data);
}
END_TEST

/* ---- safetensors -------------------------------------------------------------------------- */

START_TEST(test_st_roundtrip) {
    float w[2 * 3] = {1, -2, 3.5f, 1e-30f, -0.0f, 65504}, b[3] = {0.25f, 0.5f, 0.75f}, s = 42;
    int64_t ws[2] = {2, 3}, bs[1] = {3}, es[2] = {0, 7};
    hrm_st_entry t[4] = {
        {"layer.weight", 2, ws, w}, {"layer.bias", 1, bs, b}, {"scalar", 0, NULL, &s}, {"empty", 2, es, NULL}};
    const char *keys[2] = {"hrm.config", "format"}, *values[2] = {"{\"hidden_size\": 512}", "pt"};
    hrm_st_file f;
    size_t n;
    ck_assert_int_eq(hrm_st_write(fx_path("m.safetensors"), t, 4, keys, values, 2, err, sizeof err), HRM_OK);
    ck_assert(!fx_exists(fx_path("m.safetensors.tmp")));
    unsigned char *bytes = fx_read(fx_path("m.safetensors"), &n);
    uint64_t hlen = hrm_le64(bytes);
    ck_assert_uint_eq((8 + hlen) % 8, 0);
    ck_assert_uint_eq(n, 8 + hlen + sizeof w + sizeof b + sizeof s);
    free(bytes);
    ck_assert_int_eq(hrm_st_read(fx_path("m.safetensors"), &f, err, sizeof err), HRM_OK);
    ck_assert_int_eq(f.count, 4);
    const hrm_st_tensor *tw = hrm_st_find(&f, "layer.weight"), *tb = hrm_st_find(&f, "layer.bias");
    const hrm_st_tensor *ts = hrm_st_find(&f, "scalar"), *te = hrm_st_find(&f, "empty");
    ck_assert(tw && tb && ts && te && !hrm_st_find(&f, "nothing"));
    ck_assert(tw->dtype == HRM_ST_F32 && tw->ndim == 2 && tw->shape[0] == 2 && tw->shape[1] == 3);
    ck_assert_mem_eq(tw->data, w, sizeof w);
    ck_assert_mem_eq(tb->data, b, sizeof b);
    ck_assert(ts->ndim == 0 && ts->count == 1 && ts->data[0] == 42);
    ck_assert(te->count == 0 && te->shape[1] == 7);
    ck_assert_str_eq(hrm_st_meta(&f, "hrm.config"), "{\"hidden_size\": 512}");
    ck_assert_str_eq(hrm_st_meta(&f, "format"), "pt");
    ck_assert_ptr_null(hrm_st_meta(&f, "other"));
    hrm_st_free(&f);
}
END_TEST

START_TEST(test_st_bf16) {
    /* 1.0, -2.0, 0.5, 3.140625, and a little F32 tensor after them */
    uint16_t bf[4] = {0x3F80, 0xC000, 0x3F00, 0x4049};
    unsigned char data[8 + 4];
    float one = 1.5f;
    memcpy(data, bf, 8);
    memcpy(data + 8, &one, 4);
    fx_st_raw(fx_path("bf.safetensors"),
              "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
              "\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}  ",
              data, sizeof data);
    hrm_st_file f;
    ck_assert_int_eq(hrm_st_read(fx_path("bf.safetensors"), &f, err, sizeof err), HRM_OK);
    const hrm_st_tensor *w = hrm_st_find(&f, "w");
    ck_assert(w && w->dtype == HRM_ST_BF16 && w->count == 4);
    ck_assert(w->data[0] == 1.0f && w->data[1] == -2.0f && w->data[2] == 0.5f && w->data[3] == 3.140625f);
    ck_assert(hrm_st_find(&f, "x")->data[0] == 1.5f);
    ck_assert_str_eq(hrm_st_meta(&f, "a"), "b");
    hrm_st_free(&f);
}
END_TEST

/* An I32 tensor between a BF16 and an F32 one, as the golden fixtures mix them. */
static void write_mixed(const char *path) {
    int32_t ints[4] = {-7, 0, INT32_MAX, INT32_MIN};
    uint16_t bf[2] = {0x3F80, 0xC000}; /* 1.0, -2.0 */
    float one = 1.5f;
    unsigned char data[4 + 16 + 4];
    memcpy(data, bf, 4);
    memcpy(data + 4, ints, 16);
    memcpy(data + 20, &one, 4);
    fx_st_raw(path,
              "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
              "\"i\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[4,20]},"
              "\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[20,24]}}",
              data, sizeof data);
}

START_TEST(test_st_i32) {
    hrm_st_file f;
    write_mixed(fx_path("mixed.safetensors"));
    ck_assert_int_eq(hrm_st_read_mixed(fx_path("mixed.safetensors"), &f, err, sizeof err), HRM_OK);
    ck_assert_int_eq(f.count, 3);
    const hrm_st_tensor *b = hrm_st_find(&f, "b"), *i = hrm_st_find(&f, "i"), *x = hrm_st_find(&f, "x");
    ck_assert(b && b->dtype == HRM_ST_BF16 && !b->ints && b->data[0] == 1.0f && b->data[1] == -2.0f);
    ck_assert(i && i->dtype == HRM_ST_I32 && !i->data && i->ndim == 2 && i->shape[1] == 2 && i->count == 4);
    ck_assert(i->ints[0] == -7 && i->ints[1] == 0 && i->ints[2] == INT32_MAX && i->ints[3] == INT32_MIN);
    ck_assert(x && x->dtype == HRM_ST_F32 && !x->ints && x->count == 1 && x->data[0] == 1.5f);
    ck_assert_str_eq(hrm_st_meta(&f, "a"), "b");
    hrm_st_free(&f);
    /* the plain reader stays float-only */
    FX_EXPECT_ERROR(hrm_st_read(fx_path("mixed.safetensors"), &f, err, sizeof err), err, "mixed.safetensors",
                    "unsupported dtype 'I32' (F32 or BF16)");
    ck_assert_int_eq(f.count, 0);
}
END_TEST

/* One bad file each: the header text (NULL: raw bytes below), the data size, and what the error says. */
typedef struct st_case {
    const char *header;
    size_t data_bytes;
    const char *problem;
} st_case;

static const st_case ST_BAD[] = {
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlap"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 3 x 4 bytes"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 6, "outside the data section"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside the data section"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "invalid JSON header"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "invalid JSON header"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{}}", 8, "invalid JSON header"},
    {"[1, 2]", 0, "not a JSON object"},
    {"{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported dtype 'Q4'"},
    {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unsupported dtype 'F16'"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "shape"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
    {"{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
};

/* The same checks hold for I32 tensors in hrm_st_read_mixed. */
static const st_case ST_BAD_I32[] = {
    {"{\"w\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlap"},
    {"{\"w\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 3 x 4 bytes"},
    {"{\"w\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 6, "outside the data section"},
    {"{\"w\":{\"dtype\":\"I32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape"},
    {"{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     "unsupported dtype 'I64' (F32, BF16 or I32)"},
};

static void expect_bad_header(const st_case *c, hrm_status (*read)(const char *, hrm_st_file *, char *, size_t)) {
    unsigned char data[16] = {0};
    hrm_st_file f;
    fx_st_raw(fx_path("bad.safetensors"), c->header, data, c->data_bytes);
    FX_EXPECT_ERROR(read(fx_path("bad.safetensors"), &f, err, sizeof err), err, "bad.safetensors", c->problem);
    ck_assert_int_eq(f.count, 0);
}

START_TEST(test_st_bad_header) { expect_bad_header(&ST_BAD[_i], hrm_st_read); }
END_TEST

#define N_ST_BAD ((int)(sizeof ST_BAD / sizeof *ST_BAD))
#define N_ST_BAD_I32 ((int)(sizeof ST_BAD_I32 / sizeof *ST_BAD_I32))

START_TEST(test_st_bad_header_mixed) {
    expect_bad_header(_i < N_ST_BAD ? &ST_BAD[_i] : &ST_BAD_I32[_i - N_ST_BAD], hrm_st_read_mixed);
}
END_TEST

START_TEST(test_st_truncated) {
    float w[4] = {1, 2, 3, 4};
    int64_t shape = 4;
    hrm_st_entry t = {"w", 1, &shape, w};
    hrm_st_file f;
    const char *path = fx_path("t.safetensors");
    ck_assert_int_eq(hrm_st_write(path, &t, 1, NULL, NULL, 0, err, sizeof err), HRM_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 4), 0); /* the data section is short */
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "t.safetensors", "outside the data section");
    ck_assert_int_eq(truncate(path, 20), 0); /* inside the header */
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "t.safetensors", "runs past the end");
    ck_assert_int_eq(truncate(path, 5), 0); /* inside the length */
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "t.safetensors", "truncated");
    /* a header length of 2^62 */
    fx_write(path, "\0\0\0\0\0\0\0\x40{}", 10);
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "t.safetensors", "header length");
}
END_TEST

/* The data offsets must tile the data section, as the reference's Metadata::validate and its
 * MetadataIncompleteBuffer check require. The good file has its tensors out of order in the
 * JSON, empty tensors at the start (two at one offset), in the middle and at the end, a
 * non-ASCII metadata value, and JSON whitespace before and after the object; each bad file is
 * the good one with one change. */
static const char ST_TILE_GOOD[] = " \n{\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                                   "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                                   "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                   "\"e\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[8,8]},"
                                   "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                                   "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                                   "\"__metadata__\":{\"k\":\"caf\xc3\xa9\"}}  \t";

typedef struct st_change {
    const char *from, *to; /* one replacement in ST_TILE_GOOD; NULL: none */
    size_t data_bytes;
    const char *problem;
} st_change;

static const st_change ST_TILE_BAD[] = {
    {"[8,16]", "[12,20]", 20, "gap in the data section: bytes [8, 12) before tensor 'v'"},
    {"\"shape\":[2],\"data_offsets\":[0,8]", "\"shape\":[1],\"data_offsets\":[4,8]", 16,
     "gap in the data section: bytes [0, 4) before tensor 'w'"},
    {"[8,16]", "[4,12]", 16, "tensors 'w' [0, 8) and 'v' [4, 12) overlap"},
    {"\"shape\":[3,0],\"data_offsets\":[8,8]", "\"shape\":[3,0],\"data_offsets\":[4,4]", 16,
     "tensors 'w' [0, 8) and 'e' [4, 4) overlap"},
    {NULL, NULL, 20, "trailing bytes: the tensors end at byte 16 of the 20-byte data section"},
    {"caf\xc3\xa9", "caf\xc3\x28", 16, "invalid JSON header: unable to decode byte 0xc3"},
};

/* path: ST_TILE_GOOD with c's change, and c->data_bytes bytes of data (1, 2, 3, ...). */
static void write_tile(const char *path, const st_change *c) {
    char header[sizeof ST_TILE_GOOD + 64];
    float data[8];
    const char *at = c->from ? strstr(ST_TILE_GOOD, c->from) : NULL;
    ck_assert(!c->from || at);
    if (at)
        snprintf(header, sizeof header, "%.*s%s%s", (int)(at - ST_TILE_GOOD), ST_TILE_GOOD, c->to,
                 at + strlen(c->from));
    else
        snprintf(header, sizeof header, "%s", ST_TILE_GOOD);
    for (int i = 0; i < 8; i++) data[i] = (float)(i + 1);
    ck_assert(c->data_bytes <= sizeof data);
    fx_st_raw(path, header, data, c->data_bytes);
}

START_TEST(test_st_tiling_good) {
    const st_change none = {NULL, NULL, 16, NULL};
    hrm_st_file f;
    write_tile(fx_path("good.safetensors"), &none);
    ck_assert_msg(hrm_st_read(fx_path("good.safetensors"), &f, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(f.count, 6);
    const hrm_st_tensor *w = hrm_st_find(&f, "w"), *v = hrm_st_find(&f, "v"), *e = hrm_st_find(&f, "e");
    ck_assert(w && v && e && w->data[0] == 1 && w->data[1] == 2 && v->data[0] == 3 && v->data[1] == 4);
    ck_assert(e->count == 0 && e->ndim == 2 && hrm_st_find(&f, "z")->count == 0);
    ck_assert_str_eq(hrm_st_meta(&f, "k"), "caf\xc3\xa9");
    hrm_st_free(&f);
    /* no tensors: the data section is empty */
    fx_st_raw(fx_path("empty.safetensors"), "{}", "", 0);
    ck_assert_msg(hrm_st_read(fx_path("empty.safetensors"), &f, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(f.count, 0);
    hrm_st_free(&f);
    fx_st_raw(fx_path("empty.safetensors"), "{\"__metadata__\":{}}", "abcd", 4);
    FX_EXPECT_ERROR(hrm_st_read(fx_path("empty.safetensors"), &f, err, sizeof err), err, "empty.safetensors",
                    "trailing bytes: the tensors end at byte 0 of the 4-byte data section");
}
END_TEST

START_TEST(test_st_tiling_bad) {
    hrm_st_file f;
    write_tile(fx_path("tile.safetensors"), &ST_TILE_BAD[_i]);
    FX_EXPECT_ERROR(hrm_st_read(fx_path("tile.safetensors"), &f, err, sizeof err), err, "tile.safetensors",
                    ST_TILE_BAD[_i].problem);
    ck_assert_int_eq(f.count, 0);
    FX_EXPECT_ERROR(hrm_st_read_mixed(fx_path("tile.safetensors"), &f, err, sizeof err), err, "tile.safetensors",
                    ST_TILE_BAD[_i].problem);
}
END_TEST

/* The reference's MAX_HEADER_SIZE: a header length over 100,000,000 is refused before anything
 * is allocated or read, however long the file is; 100,000,000 itself is read (and here found
 * not to be JSON, the good header being followed by NUL bytes). The files are a good one with
 * its length field raised and a sparse tail. */
START_TEST(test_st_header_limit) {
    float w[2] = {1, 2};
    int64_t shape = 2;
    hrm_st_entry t = {"w", 1, &shape, w};
    hrm_st_file f;
    size_t n;
    const char *path = fx_path("big.safetensors");
    ck_assert_int_eq(hrm_st_write(path, &t, 1, NULL, NULL, 0, err, sizeof err), HRM_OK);
    unsigned char *good = fx_read(path, &n);
    hrm_put_le64(good, 100000001u);
    fx_write(path, good, n);
    ck_assert_int_eq(truncate(path, 8 + 100000001 + 64), 0);
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "big.safetensors",
                    "header length 100000001 is too large (limit 100000000 bytes)");
    hrm_put_le64(good, 100000000u);
    fx_write(path, good, n);
    ck_assert_int_eq(truncate(path, 8 + 100000000 + 64), 0);
    FX_EXPECT_ERROR(hrm_st_read(path, &f, err, sizeof err), err, "big.safetensors", "invalid JSON header");
    free(good);
}
END_TEST

START_TEST(test_st_write_refuses) {
    float w[2] = {1, 2};
    int64_t shape = 2, neg = -1;
    hrm_st_entry dup[2] = {{"w", 1, &shape, w}, {"w", 1, &shape, w}}, bad = {"w", 1, &neg, w};
    hrm_st_entry meta = {"__metadata__", 1, &shape, w};
    FX_EXPECT_ERROR(hrm_st_write(fx_path("d.safetensors"), dup, 2, NULL, NULL, 0, err, sizeof err), err,
                    "d.safetensors", "repeated");
    FX_EXPECT_ERROR(hrm_st_write(fx_path("d.safetensors"), &bad, 1, NULL, NULL, 0, err, sizeof err), err,
                    "d.safetensors", "bad shape");
    FX_EXPECT_ERROR(hrm_st_write(fx_path("d.safetensors"), &meta, 1, NULL, NULL, 0, err, sizeof err), err,
                    "d.safetensors", "__metadata__");
    ck_assert(!fx_exists(fx_path("d.safetensors")) && !fx_exists(fx_path("d.safetensors.tmp")));
}
END_TEST

/* ---- fuzzing: damaged files must fail cleanly (the sanitizer build checks memory) ------------- */

/* Reads `rounds` damaged copies of a good file: a few random bytes changed, or the file cut at a
 * random length. Each read must succeed or fail with one line naming the file. */
static void fuzz_file(const unsigned char *good, size_t n, int rounds, uint64_t seed,
                      hrm_status (*read)(const char *path)) {
    hrm_rng r;
    unsigned char *bad = malloc(n);
    hrm_rng_seed(&r, seed);
    for (int k = 0; k < rounds; k++) {
        size_t len = n;
        memcpy(bad, good, n);
        if (k % 4 == 3)
            len = (size_t)hrm_rng_below(&r, (int64_t)n);
        else
            for (int m = 1 + (int)hrm_rng_below(&r, 4); m > 0; m--)
                bad[hrm_rng_below(&r, n < 160 ? (int64_t)n : 160)] = (unsigned char)hrm_rng_next(&r);
        fx_write(fx_path("fuzz.bin"), bad, len);
        hrm_status s = read(fx_path("fuzz.bin"));
        if (s) FX_EXPECT_ERROR(s, err, "fuzz.bin", NULL);
    }
    free(bad);
}

static hrm_status read_npy(const char *path) {
    hrm_npy_array a;
    hrm_status s = hrm_npy_read(path, &a, err, sizeof err);
    hrm_npy_free(&a);
    return s;
}

static hrm_status read_st(const char *path) {
    hrm_st_file f;
    hrm_status s = hrm_st_read(path, &f, err, sizeof err);
    hrm_st_free(&f);
    return s;
}

static hrm_status read_st_mixed(const char *path) {
    hrm_st_file f;
    hrm_status s = hrm_st_read_mixed(path, &f, err, sizeof err);
    hrm_st_free(&f);
    return s;
}

START_TEST(test_fuzz_npy) {
    int32_t x[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    size_t n;
    ck_assert_int_eq(hrm_npy_write(fx_path("good.npy"), HRM_NPY_I32, 2, shape, x, err, sizeof err), HRM_OK);
    unsigned char *good = fx_read(fx_path("good.npy"), &n);
    fuzz_file(good, n, 2000, 1, read_npy);
    free(good);
}
END_TEST

START_TEST(test_fuzz_safetensors) {
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    int64_t ws[2] = {2, 3}, bs[1] = {2};
    hrm_st_entry t[2] = {{"w", 2, ws, w}, {"b", 1, bs, b}};
    const char *k = "hrm.config", *v = "{}";
    size_t n;
    ck_assert_int_eq(hrm_st_write(fx_path("good.st"), t, 2, &k, &v, 1, err, sizeof err), HRM_OK);
    unsigned char *good = fx_read(fx_path("good.st"), &n);
    fuzz_file(good, n, 2000, 2, read_st);
    free(good);
}
END_TEST

START_TEST(test_fuzz_safetensors_mixed) {
    size_t n;
    write_mixed(fx_path("good.st"));
    unsigned char *good = fx_read(fx_path("good.st"), &n);
    fuzz_file(good, n, 2000, 3, read_st_mixed);
    free(good);
}
END_TEST

static Suite *io_suite(void) {
    Suite *s = suite_create("io");
    TCase *npy = tcase_create("npy"), *atomic = tcase_create("atomic"), *st = tcase_create("safetensors");
    tcase_add_checked_fixture(npy, fx_setup, fx_teardown);
    tcase_add_checked_fixture(atomic, fx_setup, fx_teardown);
    tcase_add_checked_fixture(st, fx_setup, fx_teardown);
    tcase_add_test(npy, test_npy_roundtrip);
    tcase_add_test(npy, test_npy_writer_streams);
    tcase_add_test(npy, test_npy_header_layout);
    tcase_add_test(npy, test_npy_versions_and_int_types);
    tcase_add_test(npy, test_npy_int64_out_of_range);
    tcase_add_test(npy, test_npy_truncated);
    tcase_add_test(npy, test_npy_trailing_bytes);
    tcase_add_test(npy, test_npy_bad_magic);
    tcase_add_test(npy, test_npy_bad_dtype);
    tcase_add_test(npy, test_npy_fortran_order);
    tcase_add_test(npy, test_npy_bad_headers);
    tcase_add_test(npy, test_npy_absurd_sizes);
    tcase_add_test(npy, test_npy_loose_layout);
    tcase_add_test(npy, test_npy_minor_version);
    tcase_add_test(npy, test_npy_header_limit);
    tcase_add_test(npy, test_npy_python3_ints);
    tcase_add_test(npy, test_npy_nul_in_header);
    tcase_add_test(atomic, test_atomic_replace);
    tcase_add_test(atomic, test_atomic_write_failure);
    tcase_add_test(st, test_st_roundtrip);
    tcase_add_test(st, test_st_bf16);
    tcase_add_test(st, test_st_i32);
    tcase_add_loop_test(st, test_st_bad_header, 0, N_ST_BAD);
    tcase_add_loop_test(st, test_st_bad_header_mixed, 0, N_ST_BAD + N_ST_BAD_I32);
    tcase_add_test(st, test_st_truncated);
    tcase_add_test(st, test_st_write_refuses);
    tcase_add_test(st, test_st_tiling_good);
    tcase_add_loop_test(st, test_st_tiling_bad, 0, (int)(sizeof ST_TILE_BAD / sizeof *ST_TILE_BAD));
    tcase_add_test(st, test_st_header_limit);
    TCase *fuzz = tcase_create("fuzz");
    tcase_set_timeout(fuzz, 120); /* check's default of 4 s is too short on a loaded 2-core machine */
    tcase_add_checked_fixture(fuzz, fx_setup, fx_teardown);
    tcase_add_test(fuzz, test_fuzz_npy);
    tcase_add_test(fuzz, test_fuzz_safetensors);
    tcase_add_test(fuzz, test_fuzz_safetensors_mixed);
    suite_add_tcase(s, fuzz);
    suite_add_tcase(s, npy);
    suite_add_tcase(s, atomic);
    suite_add_tcase(s, st);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(io_suite());
    srunner_add_suite(sr, dataset_suite());
    srunner_add_suite(sr, builder_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
