/* ocl_backend.c - the OpenCL backend's plugin table: probe, instance, device enumeration over
 * every platform, device open (context, one in-order queue, kernel program, GEMM validation, the
 * reduced-precision matmul kernels of ocl_mma.c),
 * buffers with an optional allocation cap. The error and bounds-check helpers that every file of
 * the backend uses are ocl_error.c.
 *
 * Environment (read at probe, create or device_open):
 *   HRM_OPENCL_MAX_ALLOC_MB=N    caps this plugin's buffers at N MiB per device; an allocation past
 *                                it fails with HRM_ERR_OUT_OF_MEMORY as a full device would (tests
 *                                provoke out-of-memory with it).
 *   HRM_OPENCL_MAX_BUFFER_KB=N   caps a single buffer at N KiB (below the device's own limit), as a
 *                                device with a small CL_DEVICE_MAX_MEM_ALLOC_SIZE would: tests make
 *                                the model split its activations over several buffers with it.
 *   HRM_OPENCL_PROFILE=FILE      times every command on the device and appends a table (by op and
 *                                kernel, matmuls by shape with GFLOP/s) to FILE at device close
 *                                (ocl_profile.c).
 *   HRM_OPENCL_BUILD_OPTIONS=S   appended to the kernel build options (and to the binary cache key);
 *                                a test injects a bad define to provoke a kernel build failure.
 *   HRM_OPENCL_SCORE=N           the probe's score instead of the one derived from the platforms
 *                                (5 for CPU-only platforms, 20 otherwise); N <= 0 declines. Lets
 *                                `auto` prefer PoCL over the CPU backend, so tests can watch auto fall
 *                                back when opening OpenCL fails.
 *   HRM_OPENCL_LOCAL_MEM_KB=N    plan the attention tiles for at most N KiB of local memory (less
 *                                than the device has): a test runs GPU-sized tiles on PoCL with it.
 *   HRM_OPENCL_NO_FP64=1         treat the device as one without cl_khr_fp64: the loss kernels then
 *                                accumulate in float (kernels/loss.cl); a test runs that path on PoCL.
 *   HRM_OPENCL_TEST_CORRUPT_GEMM=1  test hook: the GEMM validation sees one wrong element in each
 *                                device result, as on a GPU where CLBlast 1.5.3 computes wrong
 *                                results; device_open then refuses the device.
 *   HRM_OPENCL_MMA=auto|portable|ptx|off  the kernel behind matmul precisions high (tf32) and
 *                                medium (bf16) (ocl_mma.c): auto = PTX mma.sync on NVIDIA compute
 *                                capability >= 8.0, none elsewhere; portable = plain OpenCL C on any
 *                                device (slow: tests); off = fp32 (CLBlast) only.
 *   HRM_OPENCL_TEST_CORRUPT_MMA=high|medium|tf32|bf16|all  test hook: that precision's validation
 *                                sees a wrong element; it is then not offered (the device stays).
 *   HRM_OPENCL_TEST_MMA_UNVALIDATED=1  test hook: offer both without that validation (Oclgrind).
 *   HRM_OPENCL_MMA_DUMP=FILE     writes the mma program's binary (PTX on NVIDIA) to FILE.
 *   XDG_CACHE_HOME, HOME         where kernel binaries are cached (ocl_program.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* ---- device-side argument faults (ocl_fault_code) ---------------------------------------------- */

static const struct {
    const char *op, *tensor, *also;
} FAULTS[] = {
    [OCL_FAULT_EMB_FWD_TOKENS] = {"embedding_forward", "tokens", ""},
    [OCL_FAULT_EMB_FWD_PUZZLE_IDS] = {"embedding_forward", "puzzle_ids", ""},
    [OCL_FAULT_EMB_BWD_TOKENS] = {"embedding_backward", "tokens", ""},
    [OCL_FAULT_SIGNSGD_IDS] = {"signsgd_rows", "ids", ""},
    [OCL_FAULT_XENT_FWD_LABELS] = {"xent_forward", "labels", " and not the ignore label"},
    [OCL_FAULT_XENT_BWD_LABELS] = {"xent_backward", "labels", " and not the ignore label"},
};

static hrm_status fault_init(hrm_device *dev) {
    static const cl_int zeros[OCL_FAULT_INTS] = {0};
    cl_int err;
    dev->fault = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof zeros, (void *)zeros, &err);
    return dev->fault ? HRM_OK : ocl_cl_fail(dev->be, err, "device_open", "clCreateBuffer (fault record)");
}

/* Before a blocking call: queues the read of the fault record behind every op enqueued so far (not
 * blocking: the blocking call after it on the in-order queue waits for it). *fetched = 1 when the
 * read was queued. */
static cl_int fault_fetch(hrm_device *dev, int *fetched) {
    *fetched = 0;
    if (!dev->fault_armed) return CL_SUCCESS;
    cl_int err = clEnqueueReadBuffer(dev->queue, dev->fault, CL_FALSE, 0, sizeof dev->fault_host, dev->fault_host, 0,
                                     NULL, NULL);
    *fetched = err == CL_SUCCESS;
    return err;
}

/* After the blocking call returned, so the fetched record is here: reports a recorded fault once
 * (as HRM_ERR_INVALID_ARG) and clears the record. */
static hrm_status fault_check(hrm_device *dev) {
    dev->fault_armed = 0;
    cl_int rec[OCL_FAULT_INTS];
    memcpy(rec, dev->fault_host, sizeof rec);
    if (rec[0] == OCL_FAULT_NONE) return HRM_OK;
    static const cl_int zeros[OCL_FAULT_INTS] = {0};
    memset(dev->fault_host, 0, sizeof dev->fault_host);
    cl_int err = clEnqueueWriteBuffer(dev->queue, dev->fault, CL_TRUE, 0, sizeof zeros, zeros, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ocl_cl_fail(dev->be, err, "fault record", "clEnqueueWriteBuffer");
    if (rec[0] < 0 || rec[0] >= (cl_int)(sizeof FAULTS / sizeof FAULTS[0]) || !FAULTS[rec[0]].op)
        return ocl_fail(dev->be, HRM_ERR_DEVICE, "the device recorded an unknown fault code %d", (int)rec[0]);
    unsigned long long pos = (unsigned long long)(uint32_t)rec[3] | (unsigned long long)(uint32_t)rec[4] << 32;
    return ocl_fail(dev->be, HRM_ERR_INVALID_ARG,
                    "%s: %s[%llu] = %d is outside [0, %d)%s (found on the device, "
                    "reported at the next synchronisation)",
                    FAULTS[rec[0]].op, FAULTS[rec[0]].tensor, pos, (int)rec[1], (int)rec[2], FAULTS[rec[0]].also);
}

/* ---- platforms and devices -------------------------------------------------------------------- */

/* All devices of all platforms, in platform order; *n = 0 (and no error) when there is none. */
static cl_int enumerate(ocl_devinfo **out, int *n) {
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0) return CL_SUCCESS;
    if (err != CL_SUCCESS) return err;
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return CL_OUT_OF_HOST_MEMORY;
    err = clGetPlatformIDs(np, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return err;
    }
    ocl_devinfo *devs = NULL;
    int count = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        ocl_devinfo *grown = realloc(devs, (size_t)(count + (int)nd) * sizeof *devs);
        if (!ids || !grown) {
            free(ids);
            if (grown) devs = grown;
            continue;
        }
        devs = grown;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS) nd = 0;
        for (cl_uint d = 0; d < nd; d++) {
            ocl_devinfo *di = &devs[count++];
            memset(di, 0, sizeof *di);
            di->platform = plats[p];
            di->id = ids[d];
            di->validated = -1;
            hrm_device_info *info = &di->info;
            clGetDeviceInfo(ids[d], CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL);
            clGetDeviceInfo(ids[d], CL_DEVICE_NAME, sizeof info->name - 1, info->name, NULL);
            clGetDeviceInfo(ids[d], CL_DEVICE_VENDOR, sizeof info->vendor - 1, info->vendor, NULL);
            clGetDeviceInfo(ids[d], CL_DRIVER_VERSION, sizeof info->driver - 1, info->driver, NULL);
            cl_ulong mem = 0;
            cl_uint cu = 0;
            clGetDeviceInfo(ids[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
            clGetDeviceInfo(ids[d], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
            info->memory_bytes = mem;
            info->compute_units = (int)cu;
            info->validated = -1;
            char plat[64] = "";
            clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof plat - 1, plat, NULL);
            snprintf(di->where, sizeof di->where, "platform %u (%s), %s", p, plat,
                     (di->type & CL_DEVICE_TYPE_GPU)   ? "GPU"
                     : (di->type & CL_DEVICE_TYPE_CPU) ? "CPU"
                                                       : "accelerator");
            snprintf(info->note, sizeof info->note, "%s; not validated yet", di->where);
        }
        free(ids);
    }
    free(plats);
    *out = devs;
    *n = count;
    return CL_SUCCESS;
}

/* ---- instance --------------------------------------------------------------------------------- */

/* The probe only lists platforms: querying devices here would start drivers' worker threads
 * (PoCL's do) in a process that may fork afterwards (the check-based tests do), and those threads
 * do not survive a fork. So the score goes by platform name: a platform known to offer only CPU
 * devices (PoCL as Debian ships it, Intel's CPU runtime) scores below the CPU backend's 10, any
 * other platform (a GPU vendor's driver) above it. create() then enumerates the real devices. */
static int cpu_only_platform(const char *name) {
    return strstr(name, "Portable Computing Language") != NULL || strstr(name, "CPU") != NULL;
}

/* The loader writes "opencl: " in front of `why`. */
static int ocl_probe(const hrm_host *host, char *why, size_t why_size) {
    (void)host;
    if (why && why_size) why[0] = '\0';
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if ((err != CL_SUCCESS && err != -1001) || np == 0) {
        if (why && why_size) {
            if (err != CL_SUCCESS && err != -1001)
                snprintf(why, why_size, "no OpenCL platform found (%s)", ocl_err_name(err));
            else
                snprintf(why, why_size, "no OpenCL platform found");
        }
        return 0;
    }
    cl_platform_id plats[16];
    if (np > 16) np = 16;
    if (clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        if (why && why_size) snprintf(why, why_size, "no OpenCL platform found");
        return 0;
    }
    int score = 5;
    for (cl_uint i = 0; i < np; i++) {
        char name[256] = "";
        clGetPlatformInfo(plats[i], CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
        if (!cpu_only_platform(name)) score = 20;
    }
    const char *forced = getenv("HRM_OPENCL_SCORE");
    if (forced && forced[0]) {
        char *end;
        long v = strtol(forced, &end, 10);
        if (*end == '\0' && v > -1000 && v < 1000) score = (int)v;
        if (score <= 0 && why && why_size) snprintf(why, why_size, "declined: HRM_OPENCL_SCORE=%s", forced);
    }
    return score;
}

static hrm_status ocl_create(const hrm_host *host, hrm_backend **out) {
    if (!out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    hrm_backend *be = calloc(1, sizeof *be);
    if (!be) return HRM_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&be->lock, NULL);
    if (host && host->struct_size >= offsetof(hrm_host, log_user) + sizeof host->log_user) {
        be->log = host->log;
        be->log_user = host->log_user;
    }
    const char *cap = getenv("HRM_OPENCL_MAX_ALLOC_MB");
    if (cap && cap[0]) {
        char *end;
        unsigned long long mb = strtoull(cap, &end, 10);
        if (*end == '\0') be->max_alloc = (uint64_t)mb << 20;
    }
    *out = be;
    cl_int err = enumerate(&be->devs, &be->ndevs);
    if (err != CL_SUCCESS)
        return ocl_fail(be, HRM_ERR_NOT_AVAILABLE, "no OpenCL platform found (%s)", ocl_err_name(err));
    if (be->ndevs == 0) return ocl_fail(be, HRM_ERR_NOT_AVAILABLE, "no OpenCL platform found");
    for (int i = 0; i < be->ndevs; i++)
        ocl_log(be, HRM_LOG_INFO, "device %d: %s (%s, driver %s), %llu MiB, %d compute units", i, be->devs[i].info.name,
                be->devs[i].info.vendor, be->devs[i].info.driver,
                (unsigned long long)(be->devs[i].info.memory_bytes >> 20), be->devs[i].info.compute_units);
    return HRM_OK;
}

static void ocl_destroy(hrm_backend *be) {
    if (!be) return;
    free(be->devs);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

static const char *ocl_last_error(hrm_backend *be) { return be ? be->error : "no backend instance"; }

static int ocl_device_count(hrm_backend *be) { return be ? be->ndevs : 0; }

static hrm_status ocl_device_info(hrm_backend *be, int index, hrm_device_info *out) {
    if (!be || !out) return HRM_ERR_INVALID_ARG;
    if (index < 0 || index >= be->ndevs)
        return ocl_fail(be, HRM_ERR_INVALID_ARG, "device_info: no device %d (%d found)", index, be->ndevs);
    *out = be->devs[index].info;
    return HRM_OK;
}

/* CLBlast's kernels take int element offsets and index with ints (its CopyPadMatrix, Xgemm and
 * XgemmDirect kernels, CLBlast 1.5.3), so a matrix at or past element 2^31 of a buffer is read
 * from a wrapped offset: on an H200, the published batch of 768 faulted this way
 * (CL_OUT_OF_RESOURCES). A buffer below 2^31 floats keeps every offset and index in range; our
 * own kernels take 64-bit offsets. */
#define OCL_MAX_INDEXED_BYTES (((uint64_t)1 << 31) * 4 - 256)

/* The largest buffer: the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE, CLBlast's index range, and the
 * HRM_OPENCL_MAX_BUFFER_KB test cap, whichever is least. */
static uint64_t max_buffer_of(cl_device_id id) {
    cl_ulong dev_max = 0;
    clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof dev_max, &dev_max, NULL);
    uint64_t cap = OCL_MAX_INDEXED_BYTES;
    if (dev_max > 0 && dev_max < cap) cap = dev_max;
    const char *kb = getenv("HRM_OPENCL_MAX_BUFFER_KB");
    if (kb && kb[0]) {
        char *end;
        unsigned long long v = strtoull(kb, &end, 10);
        if (*end == '\0' && v > 0 && v < (cap >> 10)) cap = (uint64_t)v << 10;
    }
    return cap;
}

static void release_device(hrm_device *dev) {
    if (dev->profile) ocl_profile_close(dev);
    ocl_mma_release(dev);
    ocl_program_release(dev);
    if (dev->fault) clReleaseMemObject(dev->fault);
    if (dev->queue) clReleaseCommandQueue(dev->queue);
    if (dev->ctx) clReleaseContext(dev->ctx);
    hrm_memcount_destroy(&dev->mem);
    free(dev);
}

static hrm_status ocl_device_open(hrm_backend *be, int index, hrm_device **out) {
    if (!be || !out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    if (index < 0 || index >= be->ndevs)
        return ocl_fail(be, HRM_ERR_INVALID_ARG, "device_open: no device %d (%d found)", index, be->ndevs);
    ocl_devinfo *di = &be->devs[index];
    hrm_device *dev = calloc(1, sizeof *dev);
    if (!dev) return ocl_fail(be, HRM_ERR_OUT_OF_MEMORY, "device_open: out of host memory");
    dev->be = be;
    dev->index = index;
    dev->id = di->id;
    hrm_memcount_init(&dev->mem);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)di->platform, 0};
    dev->ctx = clCreateContext(props, 1, &di->id, NULL, NULL, &err);
    if (!dev->ctx) {
        release_device(dev);
        return ocl_cl_fail(be, err, "device_open", "clCreateContext");
    }
    dev->profile = ocl_profile_create();
    dev->queue =
        clCreateCommandQueue(dev->ctx, di->id, dev->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &err); /* in-order */
    if (!dev->queue) {
        release_device(dev);
        return ocl_cl_fail(be, err, "device_open", "clCreateCommandQueue");
    }
    char ext[8192] = "";
    clGetDeviceInfo(di->id, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
    const char *no_fp64 = getenv("HRM_OPENCL_NO_FP64");
    dev->fp64 = strstr(ext, "cl_khr_fp64") != NULL && !(no_fp64 && !strcmp(no_fp64, "1"));
    clGetDeviceInfo(di->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof dev->max_wg, &dev->max_wg, NULL);
    cl_ulong lmem = 0;
    clGetDeviceInfo(di->id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    dev->local_mem = (size_t)lmem;
    const char *lm = getenv("HRM_OPENCL_LOCAL_MEM_KB");
    if (lm && lm[0]) {
        char *end;
        unsigned long long kb = strtoull(lm, &end, 10);
        if (*end == '\0' && kb > 0 && kb < (unsigned long long)(dev->local_mem >> 10))
            dev->local_mem = (size_t)kb << 10;
    }
    if (dev->max_wg == 0) dev->max_wg = 1;
    dev->max_buffer = max_buffer_of(di->id);

    hrm_status s = fault_init(dev);
    if (s == HRM_OK) s = ocl_program_init(dev);
    if (s != HRM_OK) {
        release_device(dev);
        return s;
    }
    char note[sizeof di->info.note] = "";
    s = ocl_validate_gemm(dev, note, sizeof note);
    di->validated = di->info.validated = s == HRM_OK ? 1 : 0;
    if (s == HRM_OK) ocl_mma_init(dev, note, sizeof note);
    snprintf(di->info.note, sizeof di->info.note, "%s; %s", di->where, note);
    if (s != HRM_OK) {
        release_device(dev);
        return s;
    }
    *out = dev;
    return HRM_OK;
}

static void ocl_device_close(hrm_device *dev) {
    if (!dev) return;
    clFinish(dev->queue);
    release_device(dev);
}

static hrm_status ocl_memory_usage(hrm_device *dev, uint64_t *current, uint64_t *peak) {
    if (!dev) return HRM_ERR_INVALID_ARG;
    hrm_memcount_get(&dev->mem, current, peak);
    return HRM_OK;
}

static hrm_status ocl_finish(hrm_device *dev) {
    if (!dev) return HRM_ERR_INVALID_ARG;
    int fetched;
    cl_int err = fault_fetch(dev, &fetched);
    if (err == CL_SUCCESS) err = clFinish(dev->queue);
    if (err != CL_SUCCESS) {
        clFinish(dev->queue); /* the fault record's read must not land after we return */
        return ocl_cl_fail(dev->be, err, "finish", "clFinish");
    }
    ocl_profile_sync(dev);
    return fetched ? fault_check(dev) : HRM_OK;
}

/* ---- buffers ------------------------------------------------------------------------------------ */

static hrm_status ocl_buffer_alloc(hrm_device *dev, size_t bytes, hrm_buffer **out) {
    if (!dev || !out) return HRM_ERR_INVALID_ARG;
    *out = NULL;
    hrm_backend *be = dev->be;
    uint64_t now;
    hrm_memcount_get(&dev->mem, &now, NULL);
    if (be->max_alloc && (bytes > be->max_alloc || now > be->max_alloc - bytes))
        return ocl_fail(
            be, HRM_ERR_OUT_OF_MEMORY,
            "buffer_alloc: out of device memory: %zu bytes would pass the HRM_OPENCL_MAX_ALLOC_MB cap of %llu "
            "MiB (%llu bytes in use)",
            bytes, (unsigned long long)(be->max_alloc >> 20), (unsigned long long)now);
    if (bytes > dev->max_buffer)
        return ocl_fail(be, HRM_ERR_OUT_OF_MEMORY,
                        "buffer_alloc: out of device memory: %zu bytes is over the largest buffer this device takes "
                        "(%.1f MiB: its allocation limit, CLBlast's 32-bit offsets or HRM_OPENCL_MAX_BUFFER_KB)",
                        bytes, dev->max_buffer / 1048576.0);
    hrm_buffer *buf = malloc(sizeof *buf);
    if (!buf) return ocl_fail(be, HRM_ERR_OUT_OF_MEMORY, "buffer_alloc: out of host memory");
    cl_int err;
    size_t size = bytes ? (bytes + 3) & ~(size_t)3 : 4; /* OpenCL refuses empty buffers */
    if (size < bytes) {
        free(buf);
        return ocl_fail(be, HRM_ERR_OUT_OF_MEMORY, "buffer_alloc: %zu bytes is too large", bytes);
    }
    cl_mem mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    if (!mem) {
        free(buf);
        if (err == CL_INVALID_BUFFER_SIZE) err = CL_MEM_OBJECT_ALLOCATION_FAILURE; /* over the device's max alloc */
        return ocl_cl_fail(be, err, "buffer_alloc", "clCreateBuffer");
    }
    *buf = (hrm_buffer){.dev = dev, .bytes = bytes, .mem = mem};
    hrm_memcount_add(&dev->mem, bytes);
    *out = buf;
    return HRM_OK;
}

static void ocl_buffer_free(hrm_buffer *buf) {
    if (!buf) return;
    hrm_device *dev = buf->dev;
    hrm_memcount_sub(&dev->mem, buf->bytes);
    clReleaseMemObject(buf->mem); /* freed by OpenCL once the commands using it are done */
    free(buf);
}

static hrm_status check_bytes(hrm_buffer *buf, const char *op, size_t offset, size_t bytes) {
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return ocl_fail(buf->dev->be, HRM_ERR_INVALID_ARG, "%s: bytes [%zu, %zu + %zu) lie outside a buffer of %zu", op,
                        offset, offset, bytes, buf->bytes);
    return HRM_OK;
}

static hrm_status ocl_buffer_write(hrm_buffer *dst, size_t offset, const void *src, size_t bytes) {
    if (!dst || (!src && bytes)) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_bytes(dst, "buffer_write", offset, bytes));
    if (!bytes) return HRM_OK;
    /* blocking: the caller may reuse src as soon as we return */
    cl_int err = clEnqueueWriteBuffer(dst->dev->queue, dst->mem, CL_TRUE, offset, bytes, src, 0, NULL,
                                      ocl_profile_event(dst->dev));
    if (err != CL_SUCCESS) return ocl_cl_fail(dst->dev->be, err, "buffer_write", "clEnqueueWriteBuffer");
    ocl_profile_record(dst->dev, "buffer_write", 0, 0.0);
    return HRM_OK;
}

static hrm_status ocl_buffer_read(hrm_buffer *src, size_t offset, void *dst, size_t bytes) {
    if (!src || (!dst && bytes)) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_bytes(src, "buffer_read", offset, bytes));
    hrm_device *dev = src->dev;
    int fetched;
    cl_int err = fault_fetch(dev, &fetched);
    if (err == CL_SUCCESS)
        err = bytes ? clEnqueueReadBuffer(dev->queue, src->mem, CL_TRUE, offset, bytes, dst, 0, NULL,
                                          ocl_profile_event(dev))
                    : clFinish(dev->queue);
    if (err != CL_SUCCESS) {
        clFinish(dev->queue); /* the fault record's read must not land after we return */
        return ocl_cl_fail(dev->be, err, "buffer_read", "clEnqueueReadBuffer");
    }
    if (bytes) ocl_profile_record(dev, "buffer_read", 0, 0.0);
    ocl_profile_sync(dev);
    return fetched ? fault_check(dev) : HRM_OK;
}

static hrm_status ocl_buffer_copy(hrm_buffer *dst, size_t dst_offset, hrm_buffer *src, size_t src_offset,
                                  size_t bytes) {
    if (!dst || !src) return HRM_ERR_INVALID_ARG;
    OCL_TRY(check_bytes(dst, "buffer_copy (dst)", dst_offset, bytes));
    OCL_TRY(check_bytes(src, "buffer_copy (src)", src_offset, bytes));
    if (dst->dev != src->dev)
        return ocl_fail(dst->dev->be, HRM_ERR_INVALID_ARG, "buffer_copy: buffers belong to different devices");
    if (!bytes) return HRM_OK;
    hrm_device *dev = dst->dev;
    cl_int err;
    if (dst == src && dst_offset < src_offset + bytes && src_offset < dst_offset + bytes) {
        /* OpenCL refuses overlapping copies: go through a temporary buffer */
        cl_mem tmp = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
        if (!tmp) return ocl_cl_fail(dev->be, err, "buffer_copy", "clCreateBuffer (overlap temporary)");
        err = clEnqueueCopyBuffer(dev->queue, src->mem, tmp, src_offset, 0, bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clEnqueueCopyBuffer(dev->queue, tmp, dst->mem, 0, dst_offset, bytes, 0, NULL, NULL);
        clReleaseMemObject(tmp);
    } else {
        err = clEnqueueCopyBuffer(dev->queue, src->mem, dst->mem, src_offset, dst_offset, bytes, 0, NULL,
                                  ocl_profile_event(dev));
        if (err == CL_SUCCESS) ocl_profile_record(dev, "buffer_copy", 0, 0.0);
    }
    return err == CL_SUCCESS ? HRM_OK : ocl_cl_fail(dev->be, err, "buffer_copy", "clEnqueueCopyBuffer");
}

static hrm_status ocl_buffer_fill(hrm_buffer *buf, size_t offset, size_t count, float value) {
    if (!buf) return HRM_ERR_INVALID_ARG;
    if (offset > buf->bytes / 4 || count > buf->bytes / 4 - offset)
        return ocl_fail(buf->dev->be, HRM_ERR_INVALID_ARG,
                        "buffer_fill: elements [%zu, %zu + %zu) lie outside a buffer of %zu", offset, offset, count,
                        buf->bytes / 4);
    if (!count) return HRM_OK;
    cl_int err = clEnqueueFillBuffer(buf->dev->queue, buf->mem, &value, sizeof value, offset * 4, count * 4, 0, NULL,
                                     ocl_profile_event(buf->dev));
    if (err != CL_SUCCESS) return ocl_cl_fail(buf->dev->be, err, "buffer_fill", "clEnqueueFillBuffer");
    ocl_profile_record(buf->dev, "buffer_fill", 0, 0.0);
    return HRM_OK;
}

static uint64_t ocl_max_buffer_bytes(hrm_device *dev) { return dev ? dev->max_buffer : 0; }

/* ---- the table ----------------------------------------------------------------------------------- */

static const hrm_backend_iface ocl_iface = {
    .abi_version = HRM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(hrm_backend_iface),
    .name = OCL_BACKEND_NAME,
    .description = "OpenCL 1.2: CLBlast sgemm, own tf32/bf16 mma kernel, own kernels for the rest",
    .probe = ocl_probe,
    .create = ocl_create,
    .destroy = ocl_destroy,
    .last_error = ocl_last_error,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .device_open = ocl_device_open,
    .device_close = ocl_device_close,
    .memory_usage = ocl_memory_usage,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .buffer_write = ocl_buffer_write,
    .buffer_read = ocl_buffer_read,
    .buffer_copy = ocl_buffer_copy,
    .buffer_fill = ocl_buffer_fill,
    .finish = ocl_finish,
    .matmul = ocl_matmul,
    .attention_forward = ocl_attention_forward,
    .attention_backward = ocl_attention_backward,
    .rope_forward = ocl_rope_forward,
    .rope_backward = ocl_rope_backward,
    .add = ocl_add,
    .rmsnorm_forward = ocl_rmsnorm_forward,
    .rmsnorm_backward = ocl_rmsnorm_backward,
    .swiglu_forward = ocl_swiglu_forward,
    .swiglu_backward = ocl_swiglu_backward,
    .embedding_forward = ocl_embedding_forward,
    .embedding_backward = ocl_embedding_backward,
    .xent_forward = ocl_xent_forward,
    .xent_backward = ocl_xent_backward,
    .adam_atan2 = ocl_adam_atan2,
    .signsgd_rows = ocl_signsgd_rows,
    .max_buffer_bytes = ocl_max_buffer_bytes,
    .matmul_precisions = ocl_matmul_precisions,
    .matmul_precision = ocl_matmul_precision,
};
/* struct_size is sizeof(hrm_backend_iface) of ABI 1.2: the table reaches the precision slots. */
_Static_assert(sizeof(hrm_backend_iface) >= HRM_IFACE_END(matmul_precision), "ABI 1.2 table");

HRM_BACKEND_EXPORT const hrm_backend_iface *hrm_backend_entry(void) { return &ocl_iface; }
