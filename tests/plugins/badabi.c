/* tests/plugins/badabi.c - a plugin built for ABI major 99: the host must refuse it by version. */
#include "stub.h"

static const hrm_backend_iface table = {
    .abi_version = 99u << 16,
    .struct_size = sizeof(hrm_backend_iface),
    .name = "badabi",
    .description = "test plugin of another ABI major version",
    STUB_SLOTS,
};

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &table; }
