/* ocl_profile.c - where a device's time goes: with HRM_OPENCL_PROFILE=FILE set when a device is
 * opened, its queue records an event for every command (our kernels by op and kernel name, each
 * CLBlast call by its shape, buffer transfers), and device_close appends a table to FILE (one per
 * device opened, so a program that opens several, as `hrm bench train` does, keeps them all): per
 * label the count, the device time, its share of the span from the first command's start to the
 * last one's end, and GFLOP/s for matmuls. On a GPU the host enqueues ahead of the device, so the
 * time not covered by any command is the device waiting for the host.
 *
 * A CLBlast call's event is that of its last kernel; its padding and transposing kernels run
 * before it on the in-order queue. So a matmul is charged from the end of the command before it
 * to its own end: its whole routine, plus any wait for the host in between (the "idle" line
 * counts only gaps before our own commands). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ocl_internal.h"

typedef struct prof_label {
    char name[96];
    uint64_t count;
    double ns, flops;
} prof_label;

typedef struct prof_pending {
    cl_event ev;
    int label; /* index into labels */
    int span;  /* charged from the previous command's end (CLBlast calls) */
    double flops;
} prof_pending;

struct ocl_profile {
    char path[1024];
    prof_label *labels;
    int nlabels, label_room;
    prof_pending *pending;
    size_t npending, pending_room;
    cl_ulong first_start, last_end; /* 0 until the first command */
    double idle_ns;
    uint64_t commands;
};

enum { PROF_MAX_PENDING = 1 << 16 };

ocl_profile *ocl_profile_create(void) {
    const char *path = getenv("HRM_OPENCL_PROFILE");
    if (!path || !path[0]) return NULL;
    ocl_profile *p = calloc(1, sizeof *p);
    if (p) snprintf(p->path, sizeof p->path, "%s", path);
    return p;
}

static int label_index(ocl_profile *p, const char *name) {
    for (int i = 0; i < p->nlabels; i++)
        if (!strcmp(p->labels[i].name, name)) return i;
    if (p->nlabels == p->label_room) {
        int room = p->label_room ? 2 * p->label_room : 64;
        prof_label *grown = realloc(p->labels, (size_t)room * sizeof *grown);
        if (!grown) return -1;
        p->labels = grown, p->label_room = room;
    }
    prof_label *l = &p->labels[p->nlabels];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    return p->nlabels++;
}

/* Folds every pending event (all complete: called after a clFinish) into the labels. */
static void drain(ocl_profile *p) {
    for (size_t i = 0; i < p->npending; i++) {
        prof_pending *e = &p->pending[i];
        cl_ulong start = 0, end = 0;
        if (clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) == CL_SUCCESS &&
            end >= start) {
            if (!p->first_start) p->first_start = start;
            cl_ulong from = start;
            if (p->last_end && e->span && p->last_end < start)
                from = p->last_end;
            else if (p->last_end && start > p->last_end)
                p->idle_ns += (double)(start - p->last_end);
            if (e->label >= 0) {
                prof_label *l = &p->labels[e->label];
                l->count++;
                l->ns += (double)(end - from);
                l->flops += e->flops;
            }
            if (end > p->last_end) p->last_end = end;
            p->commands++;
        }
        clReleaseEvent(e->ev);
    }
    p->npending = 0;
}

cl_event *ocl_profile_event(hrm_device *dev) { return dev->profile ? &dev->profile_ev : NULL; }

void ocl_profile_record(hrm_device *dev, const char *label, int span, double flops) {
    ocl_profile *p = dev->profile;
    if (!p || !dev->profile_ev) return;
    cl_event ev = dev->profile_ev;
    dev->profile_ev = NULL;
    if (p->npending == p->pending_room) {
        if (p->npending >= PROF_MAX_PENDING) { /* bound the memory: wait, then fold */
            clFinish(dev->queue);
            drain(p);
        } else {
            size_t room = p->pending_room ? 2 * p->pending_room : 1024;
            prof_pending *grown = realloc(p->pending, room * sizeof *grown);
            if (!grown) {
                clReleaseEvent(ev);
                return;
            }
            p->pending = grown, p->pending_room = room;
        }
    }
    p->pending[p->npending++] = (prof_pending){ev, label_index(p, label), span, flops};
}

void ocl_profile_kernel(hrm_device *dev, cl_kernel k, const char *op) {
    if (!dev->profile || !dev->profile_ev) return;
    char fn[64] = "", label[96];
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof fn - 1, fn, NULL);
    snprintf(label, sizeof label, "%s/%s", op, fn);
    ocl_profile_record(dev, label, 0, 0.0);
}

void ocl_profile_sync(hrm_device *dev) {
    if (dev->profile) drain(dev->profile);
}

static int by_time(const void *a, const void *b) {
    double x = ((const prof_label *)a)->ns, y = ((const prof_label *)b)->ns;
    return (x < y) - (x > y);
}

void ocl_profile_close(hrm_device *dev) {
    ocl_profile *p = dev->profile;
    if (!p) return;
    clFinish(dev->queue);
    drain(p);
    FILE *f = fopen(p->path, "a");
    if (!f) {
        ocl_log(dev->be, HRM_LOG_WARN, "HRM_OPENCL_PROFILE: cannot write %s", p->path);
    } else {
        double span = p->last_end > p->first_start ? (double)(p->last_end - p->first_start) : 0.0;
        qsort(p->labels, (size_t)p->nlabels, sizeof *p->labels, by_time);
        fprintf(f,
                "\n# OpenCL profile of process %ld: device %s; %llu commands over %.3f ms (first start to last end); "
                "device "
                "idle before our own commands %.3f ms (%.1f%%)\n",
                (long)getpid(), dev->be->devs[dev->index].info.name, (unsigned long long)p->commands, span * 1e-6,
                p->idle_ns * 1e-6, span > 0 ? 100.0 * p->idle_ns / span : 0.0);
        fprintf(f, "%-72s %8s %12s %10s %7s %10s\n", "label", "count", "total ms", "mean us", "share", "GFLOP/s");
        for (int i = 0; i < p->nlabels; i++) {
            const prof_label *l = &p->labels[i];
            fprintf(f, "%-72s %8llu %12.3f %10.1f %6.1f%%", l->name, (unsigned long long)l->count, l->ns * 1e-6,
                    l->count ? l->ns * 1e-3 / (double)l->count : 0.0, span > 0 ? 100.0 * l->ns / span : 0.0);
            if (l->flops > 0 && l->ns > 0) fprintf(f, " %10.4g", l->flops / l->ns);
            fputc('\n', f);
        }
        if (fclose(f) != 0) ocl_log(dev->be, HRM_LOG_WARN, "HRM_OPENCL_PROFILE: writing %s failed", p->path);
    }
    free(p->labels);
    free(p->pending);
    free(p);
    dev->profile = NULL;
}
