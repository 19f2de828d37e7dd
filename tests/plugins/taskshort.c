/* tests/plugins/taskshort.c - a task plugin whose table claims to end before eval_end: shorter
 * than the ABI 1.0 table, so it must be refused even though every slot is there in memory. */
#include "task_stub.h"

static const hrm_task_iface table = {
    .abi_version = HRM_TASK_ABI_VERSION,
    .struct_size = TASK_SHORT_SIZE,
    .name = "taskshort",
    TASK_STUB_SLOTS,
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &table; }
