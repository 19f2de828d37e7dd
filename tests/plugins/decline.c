/* tests/plugins/decline.c - a well-formed plugin whose probe says it cannot run here. */
#include <stdio.h>

#include "stub.h"

static int probe(const hrm_host *host, char *why, size_t why_size) {
    (void)host;
    snprintf(why, why_size, "not here: no widget");
    return 0;
}

static const hrm_backend_iface table = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = "decline",
    .description = "test plugin that declines in its probe",
    .probe = probe,
    STUB_SLOTS,
};

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &table; }
