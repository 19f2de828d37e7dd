/* core/init.c - truncated-normal and constant initialisation of the flat parameter buffer,
 * following the published trunc_normal_init_ (models/common.py), in double precision. */
#include "init.h"

#include <math.h>

/* Giles' single-precision approximation ("Approximating the erfinv function", 2010) as the
 * starting point; two Newton steps on erf then reach double precision. */
static double erfinv_guess(double y) {
    double w = -log((1.0 - y) * (1.0 + y)), p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    return p * y;
}

double hrm_erfinv(double y) {
    if (y <= -1.0) return -INFINITY;
    if (y >= 1.0) return INFINITY;
    double x = erfinv_guess(y);
    for (int i = 0; i < 2; i++) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x)); /* erf' = 2/sqrt(pi) e^-x^2 */
    return x;
}

/* The published comp_std / std with lower = -2, upper = 2: the variance of a standard normal
 * truncated to [-2, 2] is 1 - (u pdf(u) - l pdf(l))/z - ((pdf(u) - pdf(l))/z)^2, z = Phi(u) - Phi(l). */
double hrm_trunc_normal_factor(void) {
    const double lower = -2.0, upper = 2.0, sqrt2 = sqrt(2.0);
    double z = (erf(upper / sqrt2) - erf(lower / sqrt2)) / 2.0;
    double c = 0.3989422804014327; /* 1/sqrt(2 pi) */
    double pdf_u = c * exp(-0.5 * lower * lower), pdf_l = c * exp(-0.5 * upper * upper);
    return 1.0 / sqrt(1.0 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) * ((pdf_u - pdf_l) / z));
}

void hrm_trunc_normal(float *x, int64_t n, double std, hrm_rng *rng) {
    const double sqrt2 = sqrt(2.0), a = erf(-2.0 / sqrt2), b = erf(2.0 / sqrt2);
    double c = std * hrm_trunc_normal_factor();
    for (int64_t i = 0; i < n; i++) {
        double v = sqrt2 * c * hrm_erfinv(a + (b - a) * hrm_rng_uniform(rng));
        x[i] = (float)fmin(fmax(v, -2.0 * c), 2.0 * c);
    }
}

/* FNV-1a: a stable per-name seed offset. */
static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void hrm_init_params(const hrm_param_table *t, float *host, uint64_t seed) {
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        float *x = host + p->offset;
        if (p->init == HRM_INIT_CONST) {
            for (int64_t j = 0; j < p->numel; j++) x[j] = (float)p->init_value;
            continue;
        }
        hrm_rng rng;
        hrm_rng_seed(&rng, seed ^ name_hash(p->name));
        hrm_trunc_normal(x, p->numel, p->init_value, &rng);
    }
}
