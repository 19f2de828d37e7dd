/* tests/suites.h - the parts of the conformance suite. Each adds its test cases to the suite,
 * every test looping over the plugins under test (the loop index is the plugin's index). */
#ifndef HRM_TESTS_SUITES_H
#define HRM_TESTS_SUITES_H

#include <check.h>

void add_buffer_tests(Suite *s, int plugins);    /* conformance.c: device, buffers, bad arguments */
void add_dense_tests(Suite *s, int plugins);     /* ops_dense.c: matmul, attention, rope */
void add_elem_tests(Suite *s, int plugins);      /* ops_elem.c: add, rmsnorm, swiglu, embedding, xent */
void add_optim_tests(Suite *s, int plugins);     /* ops_elem.c: adam_atan2, signsgd_rows */
void add_gradcheck_tests(Suite *s, int plugins); /* gradcheck.c: finite differences of backward ops */

/* HRM's RoPE tables cos, sin [seq, hd/2]: angle = pos * 10000^(-2i/hd) (ops_dense.c). */
void rope_tables(int seq, int hd, float *cos_t, float *sin_t);

/* A test case with the suite's fixture and timeout, looping `fn` over the plugins. */
TCase *plugin_tcase(const char *name);

#endif /* HRM_TESTS_SUITES_H */
