/* tests/plugins/task10.c - a task plugin whose table is exactly the ABI 1.0 table: a host with
 * more slots appended must still accept it. */
#include "task_stub.h"

static const hrm_task_iface table = {
    .abi_version = HRM_TASK_ABI_VERSION,
    .struct_size = TASK_TABLE_1_0_SIZE,
    .name = "task10",
    TASK_STUB_SLOTS,
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &table; }
