/* tests/ops_precision.h - the matmul-precision part of the conformance suite (ABI 1.2). */
#ifndef HRM_TESTS_OPS_PRECISION_H
#define HRM_TESTS_OPS_PRECISION_H

#include <check.h>

/* ops_precision.c: matmul_precisions and matmul_precision at every precision the device reports
 * (TCase "precision"). */
void add_precision_tests(Suite *s, int plugins);

#endif /* HRM_TESTS_OPS_PRECISION_H */
