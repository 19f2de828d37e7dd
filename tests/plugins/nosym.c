/* tests/plugins/nosym.c - a shared module without the entry symbol (its entry is misspelt). */
#include "stub.h"

static const hrm_backend_iface table = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = "nosym",
    .description = "test plugin without hrm_backend_entry",
    STUB_SLOTS,
};

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry_misspelt(void) { return &table; }
