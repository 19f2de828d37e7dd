/* tools/cmd_backends.c - `hrm backends`: every plugin in the search path with its state
 * (usable / declined / refused), score, file and reason; for each usable one, the backend is
 * created and each device listed. With --validate each device is also opened, which runs the
 * backend's start-up checks (the OpenCL backend's GEMM validation), and the verdict is shown.
 * Exit 0 when at least one backend is usable and initialises. */
#include "cli.h"
#include "commands.h"

#include "hrm/hrm.h"

#include <stdbool.h>

static const char *state_name(hrm_plugin_state s) {
    switch (s) {
    case HRM_PLUGIN_USABLE: return "usable";
    case HRM_PLUGIN_DECLINED: return "declined";
    case HRM_PLUGIN_REFUSED: return "refused";
    }
    return "?";
}

static const char *validated_name(int v) {
    return v > 0 ? "validated" : v == 0 ? "FAILED validation" : "not validated";
}

/* Opens device index (running its start-up checks) and closes it; prints why when it fails.
 * Returns the matmul precisions the opened device runs (HRM_PRECISION_BIT; ABI 1.2), 0 when it
 * did not open. */
static uint32_t validate_device(const hrm_backend_iface *f, hrm_backend *be, int index) {
    hrm_device *dev = NULL;
    hrm_status s = f->device_open(be, index, &dev);
    if (s != HRM_OK) {
        printf("      cannot open: %s: %s\n", hrm_status_str(s), f->last_error(be));
        return 0;
    }
    hrm_ctx ctx = {.f = f, .be = be, .dev = dev, .device_index = index};
    uint32_t bits = hrm_ctx_matmul_precisions(&ctx);
    f->device_close(dev);
    return bits;
}

static void print_device(const hrm_backend_iface *f, hrm_backend *be, int index, bool validate) {
    hrm_device_info info = {0};
    uint32_t precisions = validate ? validate_device(f, be, index) : 0;
    hrm_status s = f->device_info(be, index, &info);
    if (s != HRM_OK) {
        printf("    device %d: no info: %s\n", index, f->last_error(be));
        return;
    }
    printf("    device %d: %s\n", index, info.name);
    printf("      vendor %s, driver %s\n", info.vendor, info.driver);
    if (info.memory_bytes)
        printf("      memory %.1f GiB, %d compute units\n", (double)info.memory_bytes / (1u << 30), info.compute_units);
    else
        printf("      memory -, %d compute units\n", info.compute_units);
    printf("      %s%s%s\n", validated_name(info.validated), info.note[0] ? ": " : "", info.note);
    if (precisions) {
        char list[64];
        cli_precision_list(precisions, list, sizeof list);
        printf("      matmul precisions: %s\n", list);
    }
}

/* Creates the backend and lists its devices; returns 1 when it initialised. */
static int list_devices(const hrm_plugin *p, const hrm_host *host, bool validate) {
    const hrm_backend_iface *f = p->iface;
    hrm_backend *be = NULL;
    hrm_status s = f->create(host, &be);
    if (s != HRM_OK) {
        printf("    cannot initialise: %s\n", be ? f->last_error(be) : hrm_status_str(s));
        if (be) f->destroy(be);
        return 0;
    }
    int n = f->device_count(be);
    if (n <= 0) printf("    no devices\n");
    for (int i = 0; i < n; i++) print_device(f, be, i, validate);
    f->destroy(be);
    return n > 0;
}

static int print_plugin(const hrm_plugin *p, const hrm_host *host, bool validate) {
    printf("%-10s %-8s score %-4d %s\n", p->name, state_name(p->state), p->score, p->path);
    if (p->iface && p->iface->description) printf("    %s\n", p->iface->description);
    if (p->state != HRM_PLUGIN_USABLE) {
        printf("    reason: %s\n", p->reason);
        return 0;
    }
    return list_devices(p, host, validate);
}

int cmd_backends(const char *prog, int argc, char **argv) {
    static const cli_opt opts[] = {
        {"--validate", NULL, "open every device, running its start-up checks (GEMM validation), and show the verdict"},
    };
    const char *values[1];
    int r = cli_parse(prog, opts, 1, argc, argv, values);
    if (r == CLI_HELP) {
        cli_usage(stdout, prog, "[--validate]",
                  "Lists every backend plugin found in the search path ($HRM_PLUGIN_PATH, the build tree next\n"
                  "to this program, hrm/backends beside libhrm, the install folder) with its state, score,\n"
                  "file and reason, and the devices of each usable one. Exits 1 when no backend is usable.",
                  opts, 1);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD) return CLI_EXIT_USAGE;

    const hrm_host *host = hrm_default_host();
    hrm_plugin_list list;
    int working = 0;
    hrm_plugin_scan(host, &list);
    for (int i = 0; i < list.count; i++) working += print_plugin(&list.items[i], host, values[0] != NULL);
    if (!working)
        cli_error(prog,
                  "no usable backend found among %d plugin(s) (set HRM_PLUGIN_PATH to the folder of "
                  "an hrm-backend-NAME.so)",
                  list.count);
    hrm_plugin_list_free(&list);
    return working ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
