/* tests/plugins/tasknewer.c - a task plugin built against a newer 1.x header with one slot
 * appended: the host accepts it and reads none of what it does not know. */
#include "task_stub.h"

static const struct {
    hrm_task_iface known;
    void (*appended)(void);
} table = {
    .known =
        {
            .abi_version = HRM_TASK_ABI_VERSION + 1,
            .struct_size = sizeof table,
            .name = "tasknewer",
            TASK_STUB_SLOTS,
        },
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &table.known; }
