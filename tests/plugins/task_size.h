/* tests/plugins/task_size.h - the struct_size values the test task plugins claim; the loader test
 * expects the ABI 1.0 one accepted and the short one refused, with its number in the line. */
#ifndef HRM_TESTS_PLUGINS_TASK_SIZE_H
#define HRM_TESTS_PLUGINS_TASK_SIZE_H

#include <stddef.h>

#include "hrm/task.h"

#define TASK_SLOT_END(slot) ((uint32_t)(offsetof(hrm_task_iface, slot) + sizeof(((hrm_task_iface *)0)->slot)))
/* The table as of ABI 1.0 ends at eval_end; one slot shorter must be refused. */
#define TASK_TABLE_1_0_SIZE TASK_SLOT_END(eval_end)
#define TASK_SHORT_SIZE TASK_SLOT_END(eval_add)

#endif
