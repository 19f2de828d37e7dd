/* tests/loader.c - the plugin loader (hrm.h): scanning, refusing and declining plugins, and
 * opening backends by name, path and "auto"; the task loader (task_loader.h) on tables of the
 * ABI 1.0 size, shorter and longer. The broken plugins come from tests/plugins/, whose
 * build folder meson passes in $HRM_TEST_PLUGIN_DIR; main() puts it on $HRM_PLUGIN_PATH (twice,
 * to check that a plugin found twice is listed once) before anything scans. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm/hrm.h"
#include "plugins/short_size.h"
#include "plugins/task_size.h"
#include "task_loader.h"

static const char *plugin_dir;

/* The list of one test, freed by the checked teardown even after a failed assertion. */
static hrm_plugin_list list;
static hrm_task_list tasks;
static hrm_ctx ctx;

static void teardown(void) {
    hrm_plugin_list_free(&list);
    hrm_task_list_free(&tasks);
    if (ctx.f) hrm_ctx_close(&ctx);
}

static void scan(void) { ck_assert_int_eq(hrm_plugin_scan(hrm_default_host(), &list), HRM_OK); }

static const hrm_plugin *find(const char *name) {
    for (int i = 0; i < list.count; i++)
        if (!strcmp(list.items[i].name, name)) return &list.items[i];
    ck_abort_msg("plugin '%s' not found by the scan (HRM_PLUGIN_PATH=%s)", name, getenv("HRM_PLUGIN_PATH"));
    return NULL;
}

static void expect_one_line(const char *s, const char *what) {
    ck_assert_msg(s && s[0], "%s: empty message", what);
    ck_assert_msg(!strchr(s, '\n'), "%s: message of more than one line: '%s'", what, s);
}

static void expect_contains(const char *s, const char *part, const char *what) {
    ck_assert_msg(strstr(s, part) != NULL, "%s: '%s' does not mention '%s'", what, s, part);
}

static int is_test_plugin(const char *name) {
    return !strcmp(name, "badabi") || !strcmp(name, "decline") || !strcmp(name, "nosym") || !strcmp(name, "short");
}

/* ---- scanning ----------------------------------------------------------------------------- */

START_TEST(test_scan_wrong_abi) {
    char host_version[32];
    scan();
    const hrm_plugin *p = find("badabi");
    ck_assert_int_eq(p->state, HRM_PLUGIN_REFUSED);
    ck_assert_ptr_null(p->iface);
    expect_one_line(p->reason, "badabi reason");
    expect_contains(p->reason, "99.0", "badabi reason");
    snprintf(host_version, sizeof host_version, "%d.%d", HRM_BACKEND_ABI_MAJOR, HRM_BACKEND_ABI_MINOR);
    expect_contains(p->reason, host_version, "badabi reason");
    expect_contains(p->path, "hrm-backend-badabi.so", "badabi path");
}
END_TEST

START_TEST(test_scan_declined) {
    scan();
    const hrm_plugin *p = find("decline");
    ck_assert_int_eq(p->state, HRM_PLUGIN_DECLINED);
    ck_assert_int_le(p->score, 0);
    expect_one_line(p->reason, "decline reason");
    expect_contains(p->reason, "not here: no widget", "decline reason");
}
END_TEST

START_TEST(test_scan_missing_symbol) {
    scan();
    const hrm_plugin *p = find("nosym");
    ck_assert_int_eq(p->state, HRM_PLUGIN_REFUSED);
    ck_assert_ptr_null(p->iface);
    expect_one_line(p->reason, "nosym reason");
    expect_contains(p->reason, HRM_BACKEND_ENTRY_SYMBOL, "nosym reason");
    ck_assert_msg(!strstr(p->reason, "hrm_backend_entry_misspelt"), "nosym reason names the wrong symbol: %s",
                  p->reason);
}
END_TEST

START_TEST(test_scan_short_table) {
    char size[32];
    scan();
    const hrm_plugin *p = find("short");
    ck_assert_int_eq(p->state, HRM_PLUGIN_REFUSED);
    ck_assert_ptr_null(p->iface);
    expect_one_line(p->reason, "short reason");
    snprintf(size, sizeof size, "%u", (unsigned)SHORT_TABLE_SIZE);
    expect_contains(p->reason, size, "short reason");
}
END_TEST

START_TEST(test_scan_cpu_usable) {
    scan();
    const hrm_plugin *p = find("cpu");
    ck_assert_int_eq(p->state, HRM_PLUGIN_USABLE);
    ck_assert_int_gt(p->score, 0);
    ck_assert_ptr_nonnull(p->iface);
    ck_assert_str_eq(p->iface->name, "cpu");
    expect_contains(p->path, "hrm-backend-cpu.so", "cpu path");
}
END_TEST

/* Sorted by name; the folder is on the path twice, yet each plugin is listed once. */
START_TEST(test_scan_sorted_unique) {
    scan();
    ck_assert_int_ge(list.count, 5);
    for (int i = 1; i < list.count; i++)
        ck_assert_msg(strcmp(list.items[i - 1].name, list.items[i].name) < 0, "list not sorted/unique: '%s' then '%s'",
                      list.items[i - 1].name, list.items[i].name);
}
END_TEST

START_TEST(test_load_by_path) {
    char path[4096];
    hrm_plugin p;
    snprintf(path, sizeof path, "%s/hrm-backend-badabi.so", plugin_dir);
    ck_assert_int_ne(hrm_plugin_load(path, hrm_default_host(), &p), HRM_OK);
    ck_assert_int_eq(p.state, HRM_PLUGIN_REFUSED);
    expect_contains(p.reason, "99.0", "badabi loaded by path");
    snprintf(path, sizeof path, "%s/hrm-backend-decline.so", plugin_dir);
    ck_assert_int_ne(hrm_plugin_load(path, hrm_default_host(), &p), HRM_OK);
    ck_assert_int_eq(p.state, HRM_PLUGIN_DECLINED);
    expect_contains(p.reason, "no widget", "decline loaded by path");
    snprintf(path, sizeof path, "%s/hrm-backend-nosuch.so", plugin_dir);
    ck_assert_int_ne(hrm_plugin_load(path, hrm_default_host(), &p), HRM_OK);
    ck_assert_int_eq(p.state, HRM_PLUGIN_REFUSED);
    expect_one_line(p.reason, "missing file");
}
END_TEST

/* ---- opening ------------------------------------------------------------------------------ */

START_TEST(test_open_wrong_abi) {
    char err[512] = "";
    hrm_status s = hrm_ctx_open("badabi", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_int_ne(s, HRM_OK);
    ck_assert_ptr_null(ctx.f);
    expect_one_line(err, "hrm_ctx_open(badabi)");
    expect_contains(err, "99.0", "hrm_ctx_open(badabi)");
}
END_TEST

START_TEST(test_open_declined) {
    char err[512] = "";
    hrm_status s = hrm_ctx_open("decline", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_int_ne(s, HRM_OK);
    ck_assert_ptr_null(ctx.f);
    expect_one_line(err, "hrm_ctx_open(decline)");
    expect_contains(err, "no widget", "hrm_ctx_open(decline)");
}
END_TEST

START_TEST(test_open_missing) {
    char err[512] = "";
    hrm_status s = hrm_ctx_open("/nonexistent.so", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_int_ne(s, HRM_OK);
    ck_assert_ptr_null(ctx.f);
    expect_one_line(err, "hrm_ctx_open(/nonexistent.so)");
    err[0] = 0;
    s = hrm_ctx_open("nosuchbackend", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_int_ne(s, HRM_OK);
    expect_one_line(err, "hrm_ctx_open(nosuchbackend)");
    err[0] = 0;
    s = hrm_ctx_open("cpu", 99, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_int_ne(s, HRM_OK);
    ck_assert_ptr_null(ctx.f);
    expect_one_line(err, "hrm_ctx_open(cpu, device 99)");
}
END_TEST

/* A device that works: a buffer round trip. */
static void expect_working(hrm_ctx *c) {
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    hrm_buffer *b = NULL;
    ck_assert_ptr_nonnull(c->f);
    ck_assert_ptr_nonnull(c->dev);
    ck_assert_int_eq(c->plugin.state, HRM_PLUGIN_USABLE);
    ck_assert_int_eq(c->f->buffer_alloc(c->dev, sizeof in, &b), HRM_OK);
    hrm_status w = c->f->buffer_write(b, 0, in, sizeof in), r = c->f->buffer_read(b, 0, out, sizeof out);
    c->f->buffer_free(b);
    ck_assert(w == HRM_OK && r == HRM_OK);
    ck_assert(!memcmp(in, out, sizeof in));
}

START_TEST(test_open_cpu) {
    char err[512] = "";
    hrm_status s = hrm_ctx_open("cpu", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(cpu): %s", err);
    ck_assert_str_eq(ctx.plugin.name, "cpu");
    ck_assert_ptr_eq(ctx.f, ctx.plugin.iface);
    expect_working(&ctx);
    char path[4096];
    snprintf(path, sizeof path, "%s", ctx.plugin.path);
    hrm_ctx_close(&ctx);
    ck_assert_ptr_null(ctx.f);
    s = hrm_ctx_open(path, 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(%s): %s", path, err);
    ck_assert_str_eq(ctx.plugin.name, "cpu");
    expect_working(&ctx);
}
END_TEST

/* max_buffer_bytes (ABI 1.1) through hrm_ctx_max_buffer_bytes: asked of a table that reaches it,
 * never of an ABI 1.0 one (struct_size ending at signsgd_rows), even with the slot filled in
 * memory; an empty slot means no limit. The CPU backend's own answer follows its test cap. */
static int limit_calls;
static uint64_t fake_limit(hrm_device *dev) {
    (void)dev;
    limit_calls++;
    return 12345;
}

START_TEST(test_max_buffer_slot) {
    char err[512] = "";
    setenv("HRM_CPU_MAX_BUFFER_KB", "64", 1);
    hrm_status s = hrm_ctx_open("cpu", 0, hrm_default_host(), &ctx, err, sizeof err);
    unsetenv("HRM_CPU_MAX_BUFFER_KB");
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(cpu): %s", err);
    ck_assert_uint_eq(hrm_ctx_max_buffer_bytes(&ctx), 64u << 10);
    hrm_buffer *b = NULL;
    ck_assert_int_eq(ctx.f->buffer_alloc(ctx.dev, (64u << 10) + 4, &b), HRM_ERR_OUT_OF_MEMORY);
    expect_contains(ctx.f->last_error(ctx.be), "HRM_CPU_MAX_BUFFER_KB", "a buffer over the cap");
    ck_assert_int_eq(ctx.f->buffer_alloc(ctx.dev, 64u << 10, &b), HRM_OK);
    ctx.f->buffer_free(b);

    hrm_backend_iface table = *ctx.f;
    const hrm_backend_iface *real = ctx.f;
    table.max_buffer_bytes = fake_limit;
    ctx.f = &table;
    limit_calls = 0;
    ck_assert_uint_eq(hrm_ctx_max_buffer_bytes(&ctx), 12345u);
    ck_assert_int_eq(limit_calls, 1);
    table.struct_size = (uint32_t)HRM_IFACE_END(signsgd_rows); /* an ABI 1.0 plugin */
    ck_assert_uint_eq(hrm_ctx_max_buffer_bytes(&ctx), 0u);
    ck_assert_int_eq(limit_calls, 1);
    table.struct_size = (uint32_t)sizeof table;
    table.max_buffer_bytes = NULL;
    ck_assert_uint_eq(hrm_ctx_max_buffer_bytes(&ctx), 0u);
    ctx.f = real;
}
END_TEST

/* The matmul precision slots (ABI 1.2) through hrm_ctx_matmul_precisions and hrm_ctx_matmul:
 * asked of a table that reaches both, never of an ABI 1.1 one (struct_size ending at
 * max_buffer_bytes) even with the slots filled in memory; HIGHEST is always there and is plain
 * matmul; a precision the device does not report is refused without calling the plugin; and the
 * fallback goes to the next higher precision the device has. */
static int precision_calls, reduced_calls;
static uint32_t fake_precisions(hrm_device *dev) {
    (void)dev;
    precision_calls++;
    return HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM) | 0x80u; /* an unknown bit is masked off */
}
static hrm_status fake_reduced(hrm_device *dev, const hrm_matmul_args *a, hrm_matmul_precision p) {
    (void)dev;
    (void)a;
    reduced_calls++;
    return p == HRM_PRECISION_MEDIUM ? HRM_OK : HRM_ERR_INVALID_ARG;
}

START_TEST(test_precision_slots) {
    char err[512] = "";
    hrm_status s = hrm_ctx_open("cpu", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(cpu): %s", err);
    hrm_backend_iface table = *ctx.f;
    const hrm_backend_iface *real = ctx.f;
    table.matmul_precisions = fake_precisions;
    table.matmul_precision = fake_reduced;
    ctx.f = &table;
    precision_calls = reduced_calls = 0;
    const uint32_t hi = HRM_PRECISION_BIT(HRM_PRECISION_HIGHEST), med = HRM_PRECISION_BIT(HRM_PRECISION_MEDIUM);
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&ctx), hi | med);
    ck_assert_int_eq(precision_calls, 1);
    hrm_matmul_args a = {0};
    ck_assert_int_eq(hrm_ctx_matmul(&ctx, &a, HRM_PRECISION_MEDIUM), HRM_OK);
    ck_assert_int_eq(reduced_calls, 1);
    ck_assert_int_eq(hrm_ctx_matmul(&ctx, &a, HRM_PRECISION_HIGH), HRM_ERR_UNSUPPORTED);
    ck_assert_int_eq(reduced_calls, 1);
    table.struct_size = (uint32_t)HRM_IFACE_END(max_buffer_bytes); /* an ABI 1.1 plugin */
    precision_calls = 0;
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&ctx), hi);
    ck_assert_int_eq(hrm_ctx_matmul(&ctx, &a, HRM_PRECISION_MEDIUM), HRM_ERR_UNSUPPORTED);
    ck_assert_int_eq(precision_calls + reduced_calls, 1);
    table.struct_size = (uint32_t)sizeof table;
    table.matmul_precision = NULL; /* reports without the op: fp32 only */
    ck_assert_uint_eq(hrm_ctx_matmul_precisions(&ctx), hi);
    ctx.f = real;

    /* the fallback: asked when there, else the next higher one */
    ck_assert_int_eq(hrm_precision_effective(hi, HRM_PRECISION_MEDIUM), HRM_PRECISION_HIGHEST);
    ck_assert_int_eq(hrm_precision_effective(hi | med, HRM_PRECISION_MEDIUM), HRM_PRECISION_MEDIUM);
    ck_assert_int_eq(hrm_precision_effective(hi | med, HRM_PRECISION_HIGH), HRM_PRECISION_HIGHEST);
    ck_assert_int_eq(hrm_precision_effective(hi | HRM_PRECISION_BIT(HRM_PRECISION_HIGH), HRM_PRECISION_MEDIUM),
                     HRM_PRECISION_HIGH);
    ck_assert_int_eq(hrm_precision_effective(hi, HRM_PRECISION_HIGHEST), HRM_PRECISION_HIGHEST);
    /* names */
    hrm_matmul_precision p;
    ck_assert(hrm_precision_parse("medium", &p) && p == HRM_PRECISION_MEDIUM);
    ck_assert(hrm_precision_parse("tf32", &p) && p == HRM_PRECISION_HIGH);
    ck_assert(!hrm_precision_parse("fp16", &p) && !hrm_precision_parse("", &p) && !hrm_precision_parse(NULL, &p));
    ck_assert_str_eq(hrm_precision_name(HRM_PRECISION_HIGHEST), "highest");
    ck_assert_str_eq(hrm_precision_format(HRM_PRECISION_MEDIUM), "bf16");
}
END_TEST

/* auto passes over the refused and declined test plugins to a real one: cpu, unless another
 * usable backend (an OpenCL build, say) scores higher. */
START_TEST(test_open_auto) {
    char err[512] = "";
    int others = 0;
    scan();
    for (int i = 0; i < list.count; i++)
        others += list.items[i].state == HRM_PLUGIN_USABLE && strcmp(list.items[i].name, "cpu") != 0;
    hrm_status s = hrm_ctx_open("auto", 0, hrm_default_host(), &ctx, err, sizeof err);
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(auto): %s", err);
    ck_assert_msg(!is_test_plugin(ctx.plugin.name), "auto opened the test plugin %s", ctx.plugin.name);
    if (!others) ck_assert_str_eq(ctx.plugin.name, "cpu");
    expect_working(&ctx);
}
END_TEST

/* spec NULL means $HRM_BACKEND, else auto. */
START_TEST(test_open_from_env) {
    char err[512] = "";
    setenv("HRM_BACKEND", "cpu", 1);
    hrm_status s = hrm_ctx_open(NULL, 0, hrm_default_host(), &ctx, err, sizeof err);
    unsetenv("HRM_BACKEND");
    ck_assert_msg(s == HRM_OK, "hrm_ctx_open(NULL) with HRM_BACKEND=cpu: %s", err);
    ck_assert_str_eq(ctx.plugin.name, "cpu");
    hrm_ctx_close(&ctx);
    setenv("HRM_BACKEND", "badabi", 1);
    s = hrm_ctx_open("", 0, hrm_default_host(), &ctx, err, sizeof err);
    unsetenv("HRM_BACKEND");
    ck_assert_msg(s != HRM_OK, "hrm_ctx_open(\"\") with HRM_BACKEND=badabi succeeded");
    expect_contains(err, "99.0", "hrm_ctx_open(\"\") with HRM_BACKEND=badabi");
}
END_TEST

START_TEST(test_status_str) {
    for (int a = HRM_OK; a <= HRM_ERR_USAGE; a++) {
        const char *s = hrm_status_str((hrm_status)a);
        ck_assert_msg(s && s[0], "hrm_status_str(%d) empty", a);
        for (int b = HRM_OK; b < a; b++)
            ck_assert_msg(strcmp(s, hrm_status_str((hrm_status)b)) != 0, "statuses %d and %d read the same", a, b);
    }
    ck_assert_ptr_nonnull(hrm_status_str((hrm_status)1234));
}
END_TEST

/* ---- task plugins ------------------------------------------------------------------------- */

static const hrm_task_plugin *find_task(const char *name) {
    for (int i = 0; i < tasks.count; i++)
        if (!strcmp(tasks.items[i].name, name)) return &tasks.items[i];
    ck_abort_msg("task plugin '%s' not found by the scan (HRM_PLUGIN_PATH=%s)", name, getenv("HRM_PLUGIN_PATH"));
    return NULL;
}

/* A table of exactly the ABI 1.0 size is accepted, whatever this host's sizeof(hrm_task_iface). */
START_TEST(test_task_table_1_0) {
    char err[512] = "";
    const hrm_task_iface *f = NULL;
    ck_assert_int_eq(hrm_task_scan(&tasks), HRM_OK);
    const hrm_task_plugin *p = find_task("task10");
    ck_assert_msg(p->usable, "task10 refused: %s", p->reason);
    ck_assert_ptr_nonnull(p->iface);
    ck_assert_uint_eq(p->iface->struct_size, TASK_TABLE_1_0_SIZE);
    ck_assert_msg(hrm_task_find("task10", &f, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_str_eq(f->name, "task10");
    ck_assert_int_eq(f->format.seq_len, 7);
    ck_assert_ptr_null(f->eval_begin);
}
END_TEST

/* One slot shorter than ABI 1.0: refused with one line giving the size, by name and by path. */
START_TEST(test_task_table_short) {
    char err[512] = "", size[32], path[4096];
    const hrm_task_iface *f = NULL;
    ck_assert_int_eq(hrm_task_scan(&tasks), HRM_OK);
    const hrm_task_plugin *p = find_task("taskshort");
    ck_assert(!p->usable);
    ck_assert_ptr_null(p->iface);
    expect_one_line(p->reason, "taskshort reason");
    snprintf(size, sizeof size, "%u bytes", (unsigned)TASK_SHORT_SIZE);
    expect_contains(p->reason, size, "taskshort reason");
    ck_assert_int_ne(hrm_task_find("taskshort", &f, err, sizeof err), HRM_OK);
    ck_assert_ptr_null(f);
    expect_one_line(err, "hrm_task_find(taskshort)");
    expect_contains(err, size, "hrm_task_find(taskshort)");
    snprintf(path, sizeof path, "%s/hrm-task-taskshort.so", plugin_dir);
    err[0] = 0;
    ck_assert_int_ne(hrm_task_find(path, &f, err, sizeof err), HRM_OK);
    expect_one_line(err, "hrm_task_find(PATH of taskshort)");
    expect_contains(err, size, "hrm_task_find(PATH of taskshort)");
}
END_TEST

/* A plugin of a newer 1.x with a slot appended is accepted; the host keeps only what it knows. */
START_TEST(test_task_table_newer) {
    char err[512] = "";
    const hrm_task_iface *f = NULL;
    ck_assert_msg(hrm_task_find("tasknewer", &f, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_str_eq(f->name, "tasknewer");
    ck_assert_uint_gt(f->struct_size, sizeof(hrm_task_iface));
}
END_TEST

int main(void) {
    plugin_dir = getenv("HRM_TEST_PLUGIN_DIR");
    if (!plugin_dir || !plugin_dir[0]) {
        fprintf(stderr, "test_loader: set HRM_TEST_PLUGIN_DIR to the build folder of tests/plugins\n");
        return EXIT_FAILURE;
    }
    char path[8300];
    snprintf(path, sizeof path, "%s:/nonexistent-hrm-dir:%s", plugin_dir, plugin_dir);
    setenv("HRM_PLUGIN_PATH", path, 1);
    unsetenv("HRM_BACKEND");

    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("scan");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scan_wrong_abi);
    tcase_add_test(tc, test_scan_declined);
    tcase_add_test(tc, test_scan_missing_symbol);
    tcase_add_test(tc, test_scan_short_table);
    tcase_add_test(tc, test_scan_cpu_usable);
    tcase_add_test(tc, test_scan_sorted_unique);
    tcase_add_test(tc, test_load_by_path);
    suite_add_tcase(s, tc);
    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_open_wrong_abi);
    tcase_add_test(tc, test_open_declined);
    tcase_add_test(tc, test_open_missing);
    tcase_add_test(tc, test_open_cpu);
    tcase_add_test(tc, test_max_buffer_slot);
    tcase_add_test(tc, test_precision_slots);
    tcase_add_test(tc, test_open_auto);
    tcase_add_test(tc, test_open_from_env);
    tcase_add_test(tc, test_status_str);
    suite_add_tcase(s, tc);
    tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_task_table_1_0);
    tcase_add_test(tc, test_task_table_short);
    tcase_add_test(tc, test_task_table_newer);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
