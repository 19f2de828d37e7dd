/* backends/opencl/tests/test_device_spec.c - choosing a device by a spec string (hrm.h):
 * hrm_device_match on made-up device lists (index, name substring ignoring case, vendor or
 * platform note when no name matches, ambiguity, no match, bad index: one error line that lists
 * the devices), then hrm_ctx_open_device on the real CPU and OpenCL backends of the build tree,
 * and under auto, where a backend without a matching device is skipped. Each case opens its
 * backends in its own forked process (check's default); main() opens none, since a driver
 * initialised before a fork does not work in the child (NVIDIA's). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"

static hrm_device_info dev_info(const char *name, const char *vendor, const char *note) {
    hrm_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    snprintf(d.note, sizeof d.note, "%s", note);
    return d;
}

/* Three devices on three OpenCL platforms, as `hrm backends` would list them. */
static int three(hrm_device_info *d) {
    d[0] =
        dev_info("NVIDIA GeForce RTX 3080", "NVIDIA Corporation", "platform 0 (NVIDIA CUDA), GPU; not validated yet");
    d[1] = dev_info("gfx1030", "Advanced Micro Devices, Inc.",
                    "platform 1 (AMD Accelerated Parallel Processing), GPU; not validated yet");
    d[2] = dev_info("pthread-skylake-avx512-AMD EPYC", "AuthenticAMD",
                    "platform 2 (Portable Computing Language), CPU; not validated yet");
    return 3;
}

static void expect_one_line(const char *err, const char *want) {
    ck_assert_msg(err[0] && !strchr(err, '\n'), "error '%s' is not one line", err);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' does not say '%s'", err, want);
}

START_TEST(test_match_index) {
    hrm_device_info d[3];
    int n = three(d);
    char err[512] = "";
    ck_assert_int_eq(hrm_device_match("0", d, n, err, sizeof err), 0);
    ck_assert_int_eq(hrm_device_match("2", d, n, err, sizeof err), 2);
    ck_assert_int_eq(hrm_device_match(NULL, d, n, err, sizeof err), 0);
    ck_assert_int_eq(hrm_device_match("", d, n, err, sizeof err), 0);
    ck_assert_int_eq(hrm_device_match("3", d, n, err, sizeof err), -1);
    expect_one_line(err, "no device 3 (it has 3: 0 'NVIDIA GeForce RTX 3080', 1 'gfx1030', 2 'pthread-");
    ck_assert_int_eq(hrm_device_match("-1", d, n, err, sizeof err), -1);
    expect_one_line(err, "no device -1");
    ck_assert_int_eq(hrm_device_match("99999999999999999999999", d, n, err, sizeof err), -1);
    expect_one_line(err, "no device 99999999999999999999999");
    ck_assert_int_eq(hrm_device_match("0", d, 0, err, sizeof err), -1);
    expect_one_line(err, "no device 0 (it has 0: none)");
}
END_TEST

START_TEST(test_match_name) {
    hrm_device_info d[3];
    int n = three(d);
    char err[512] = "";
    ck_assert_int_eq(hrm_device_match("rtx", d, n, err, sizeof err), 0);
    ck_assert_int_eq(hrm_device_match("GFX", d, n, err, sizeof err), 1);
    ck_assert_int_eq(hrm_device_match("Skylake", d, n, err, sizeof err), 2);
    /* "nvidia" is in device 0's name and vendor only */
    ck_assert_int_eq(hrm_device_match("nvidia", d, n, err, sizeof err), 0);
    /* names come first: "amd" is in device 2's name, and also in device 1's platform note */
    ck_assert_int_eq(hrm_device_match("amd", d, n, err, sizeof err), 2);
    /* digits alone are an index, even when a name contains them */
    ck_assert_int_eq(hrm_device_match("1030", d, n, err, sizeof err), -1);
    expect_one_line(err, "no device 1030");
}
END_TEST

START_TEST(test_match_platform) {
    hrm_device_info d[3];
    int n = three(d);
    char err[512] = "";
    ck_assert_int_eq(hrm_device_match("cuda", d, n, err, sizeof err), 0);
    ck_assert_int_eq(hrm_device_match("portable computing", d, n, err, sizeof err), 2);
    ck_assert_int_eq(hrm_device_match("advanced micro", d, n, err, sizeof err), 1);
}
END_TEST

START_TEST(test_match_errors) {
    hrm_device_info d[3];
    int n = three(d);
    char err[512] = "";
    /* no name has "gpu"; two notes do */
    ck_assert_int_eq(hrm_device_match("gpu", d, n, err, sizeof err), -1);
    expect_one_line(err, "'gpu' matches 2 devices");
    expect_one_line(err, "give an index");
    ck_assert_int_eq(hrm_device_match("intel", d, n, err, sizeof err), -1);
    expect_one_line(err, "no device matches 'intel' (devices: 0 'NVIDIA GeForce RTX 3080', 1 'gfx1030', 2 'pthread-");
    /* two identical boards: only an index tells them apart */
    hrm_device_info twins[2] = {dev_info("Radeon RX 7900", "AMD", ""), dev_info("Radeon RX 7900", "AMD", "")};
    ck_assert_int_eq(hrm_device_match("radeon", twins, 2, err, sizeof err), -1);
    expect_one_line(err, "'radeon' matches 2 devices (0 'Radeon RX 7900', 1 'Radeon RX 7900')");
    ck_assert_int_eq(hrm_device_match("1", twins, 2, err, sizeof err), 1);
}
END_TEST

/* ---- the real backends of the build tree ------------------------------------------------------- */

static hrm_host quiet_host;

static void no_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user, (void)level, (void)backend, (void)message;
}

static const hrm_host *host(void) {
    quiet_host = *hrm_default_host();
    quiet_host.log = no_log;
    return &quiet_host;
}

START_TEST(test_open_cpu_by_spec) {
    hrm_ctx ctx;
    char err[1024] = "";
    ck_assert_msg(hrm_ctx_open_device("cpu", "0", host(), &ctx, err, sizeof err) == HRM_OK, "cpu device 0: %s", err);
    hrm_device_info info;
    ck_assert_int_eq(ctx.f->device_info(ctx.be, 0, &info), HRM_OK);
    hrm_ctx_close(&ctx);
    /* a part of the CPU device's own name, in another case */
    char part[8] = "";
    size_t len = strlen(info.name) < 4 ? strlen(info.name) : 4;
    for (size_t i = 0; i < len; i++) {
        char c = info.name[i];
        part[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    ck_assert_msg(hrm_ctx_open_device("cpu", part, host(), &ctx, err, sizeof err) == HRM_OK, "cpu device '%s': %s",
                  part, err);
    ck_assert_int_eq(ctx.device_index, 0);
    hrm_ctx_close(&ctx);
    ck_assert_int_eq(hrm_ctx_open_device("cpu", "no such device", host(), &ctx, err, sizeof err), HRM_ERR_INVALID_ARG);
    expect_one_line(err, "cpu: no device matches 'no such device' (devices: 0 '");
    ck_assert_int_eq(hrm_ctx_open_device("cpu", "7", host(), &ctx, err, sizeof err), HRM_ERR_INVALID_ARG);
    expect_one_line(err, "cpu: no device 7 (it has 1: 0 '");
    /* the index form of hrm_ctx_open still works and says the same */
    ck_assert_int_eq(hrm_ctx_open("cpu", 7, host(), &ctx, err, sizeof err), HRM_ERR_INVALID_ARG);
    expect_one_line(err, "cpu: no device 7 (it has 1: 0 '");
}
END_TEST

/* 1 when the opencl plugin is usable here (an OpenCL platform exists). */
static int opencl_usable(void) {
    hrm_plugin_list list;
    int usable = 0;
    hrm_plugin_scan(host(), &list);
    for (int i = 0; i < list.count; i++)
        if (!strcmp(list.items[i].name, "opencl") && list.items[i].state == HRM_PLUGIN_USABLE) usable = 1;
    hrm_plugin_list_free(&list);
    return usable;
}

START_TEST(test_open_opencl_by_platform) {
    if (!opencl_usable()) {
        printf("no usable OpenCL platform: skipping the OpenCL device-spec checks\n");
        return;
    }
    hrm_ctx ctx;
    char err[1024] = "";
    ck_assert_msg(hrm_ctx_open_device("opencl", "0", host(), &ctx, err, sizeof err) == HRM_OK, "opencl 0: %s", err);
    hrm_device_info info;
    ck_assert_int_eq(ctx.f->device_info(ctx.be, 0, &info), HRM_OK);
    hrm_ctx_close(&ctx);
    /* the platform name: "platform P (NAME), TYPE; ..." in the note */
    const char *open = strchr(info.note, '('), *close = open ? strchr(open, ')') : NULL;
    ck_assert_msg(open && close && close > open + 1, "opencl device note '%s' does not name the platform", info.note);
    char platform[128];
    snprintf(platform, sizeof platform, "%.*s", (int)(close - open - 1), open + 1);
    ck_assert_msg(hrm_ctx_open_device("opencl", platform, host(), &ctx, err, sizeof err) == HRM_OK,
                  "opencl device of platform '%s': %s", platform, err);
    hrm_ctx_close(&ctx);
    ck_assert_int_eq(hrm_ctx_open_device("opencl", "no such device", host(), &ctx, err, sizeof err),
                     HRM_ERR_INVALID_ARG);
    expect_one_line(err, "opencl: no device matches 'no such device'");
    /* auto: backends are tried by score; with the full OpenCL device name, the CPU backend has no
     * such device (its name differs) and is skipped, so auto ends on OpenCL */
    ck_assert_msg(hrm_ctx_open_device("auto", info.name, host(), &ctx, err, sizeof err) == HRM_OK,
                  "auto, device '%s': %s", info.name, err);
    ck_assert_str_eq(ctx.plugin.name, "opencl");
    hrm_ctx_close(&ctx);
    ck_assert_int_eq(hrm_ctx_open_device("auto", "no such device", host(), &ctx, err, sizeof err), HRM_ERR_INVALID_ARG);
    expect_one_line(err, "no device matches 'no such device'");
}
END_TEST

int main(void) {
    Suite *s = suite_create("device_spec");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, test_match_index);
    tcase_add_test(tc, test_match_name);
    tcase_add_test(tc, test_match_platform);
    tcase_add_test(tc, test_match_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("open");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_open_cpu_by_spec);
    tcase_add_test(tc, test_open_opencl_by_platform);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
