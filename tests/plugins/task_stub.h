/* tests/plugins/task_stub.h - the slots of a minimal task table (hrm/task.h) whose every call
 * refuses politely: each test task plugin differs from the others only in the struct_size it
 * claims (task_size.h). */
#ifndef HRM_TESTS_PLUGINS_TASK_STUB_H
#define HRM_TESTS_PLUGINS_TASK_STUB_H

#include "task_size.h"

static hrm_status stub_build(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                             const hrm_task_sink *test, char *err, size_t err_size) {
    (void)host, (void)argc, (void)argv, (void)train, (void)test, (void)err, (void)err_size;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_verify(const uint8_t *input, const uint8_t *answer, const uint8_t *label, bool *accepted,
                              char *reason, size_t reason_size) {
    (void)input, (void)answer, (void)label, (void)reason, (void)reason_size;
    *accepted = false;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_render(const uint8_t *tokens, const uint8_t *input, bool color, char *out, size_t out_size) {
    (void)tokens, (void)input, (void)color, (void)out, (void)out_size;
    return HRM_ERR_UNSUPPORTED;
}
static hrm_status stub_parse_puzzle(const char *text, uint8_t *input, char *err, size_t err_size) {
    (void)text, (void)input, (void)err, (void)err_size;
    return HRM_ERR_UNSUPPORTED;
}

/* Every 1.0 slot but abi_version, struct_size and name; an odd format that no real task has. */
#define TASK_STUB_SLOTS                                                                                               \
    .summary = "test task plugin", .format = {.seq_len = 7, .vocab_size = 3}, .build_usage = "", .build = stub_build, \
    .verify = stub_verify, .render = stub_render, .parse_puzzle = stub_parse_puzzle

#endif
