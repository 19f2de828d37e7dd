/* tests/plugins/short.c - a plugin whose table claims to end after finish(): shorter than an
 * ABI 1.0 host requires, so it must be refused even though every slot is filled in memory. */
#include "stub.h"

#include "short_size.h"

static const hrm_backend_iface table = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = SHORT_TABLE_SIZE,
    .name = "short",
    .description = "test plugin with a truncated table",
    STUB_SLOTS,
};

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &table; }
