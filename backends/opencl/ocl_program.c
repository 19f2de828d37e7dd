/* ocl_program.c - the embedded kernel programs: built once per device at device_open, their binaries
 * cached on disk ($XDG_CACHE_HOME/hrm/opencl or ~/.cache/hrm/opencl) under a name made from a
 * hash of the device name, driver version, build options and source, so a driver update or a
 * kernel change never loads a stale binary. A build failure of the main program logs the
 * compiler's build log and returns HRM_ERR_BUILD; the mma program (ocl_mma.c) goes through the same
 * build with its own source, options and log level. The cache is best effort: any failure there
 * falls back to a build. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl_internal.h"
#include "ocl_kernels.h"

/* Build options: fp64 devices compute the loss in double (kernels/loss.cl); then whatever
 * HRM_OPENCL_BUILD_OPTIONS adds (a test hook, see ocl_backend.c). Written once into dev. */
static void set_build_options(hrm_device *dev) {
    const char *extra = getenv("HRM_OPENCL_BUILD_OPTIONS");
    snprintf(dev->build_options, sizeof dev->build_options, "%s%s%s",
             dev->fp64 ? "-cl-std=CL1.2 -DHRM_FP64=1" : "-cl-std=CL1.2", extra && extra[0] ? " " : "",
             extra ? extra : "");
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int mkdirs(char *path) /* mkdir -p; path is modified and restored */
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok) return 0;
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* The cache file for this device and source, or 0 when there is no cache directory. */
static int cache_path(hrm_device *dev, const char *src, size_t src_size, const char *options, char *out, size_t size,
                      char *dir, size_t dir_size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0])
        snprintf(dir, dir_size, "%s/hrm/opencl", xdg);
    else if (home && home[0])
        snprintf(dir, dir_size, "%s/.cache/hrm/opencl", home);
    else
        return 0;
    const hrm_device_info *info = &dev->be->devs[dev->index].info;
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(h, info->name, strlen(info->name) + 1);
    h = fnv1a(h, info->vendor, strlen(info->vendor) + 1);
    h = fnv1a(h, info->driver, strlen(info->driver) + 1);
    h = fnv1a(h, options, strlen(options) + 1);
    h = fnv1a(h, src, src_size);
    snprintf(out, size, "%s/%016llx.bin", dir, (unsigned long long)h);
    return 1;
}

static cl_program load_cached(hrm_device *dev, const char *path, const char *options) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cl_program prog = NULL;
    unsigned char *bin = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (bin = malloc((size_t)n)) && fread(bin, 1, (size_t)n, f) == (size_t)n) {
        size_t len = (size_t)n;
        const unsigned char *bins[1] = {bin};
        cl_int status, err;
        prog = clCreateProgramWithBinary(dev->ctx, 1, &dev->id, &len, bins, &status, &err);
        if (prog && (err != CL_SUCCESS || status != CL_SUCCESS ||
                     clBuildProgram(prog, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS)) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    free(bin);
    fclose(f);
    if (!prog) ocl_log(dev->be, HRM_LOG_WARN, "ignoring an unusable kernel cache file %s", path);
    return prog;
}

static void store_cached(hrm_device *dev, cl_program prog, const char *path, char *dir) {
    size_t len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS && mkdirs(dir)) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(bin, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = 0;
        if (ok && rename(tmp, path) == 0)
            ocl_log(dev->be, HRM_LOG_DEBUG, "cached the kernel binary in %s", path);
        else
            remove(tmp);
    }
    free(bin);
}

/* Hands the build log to the host's log one line at a time (a log message is one line), at most
 * LOG_LINES of them, and copies the first line that names an error (else the first non-empty
 * line) into first[]: it goes into the one-line error. */
#define LOG_LINES 200
static void report_build_log(hrm_backend *be, hrm_log_level level, char *log, char *first, size_t first_size) {
    int lines = 0, total = 0;
    first[0] = '\0';
    for (char *line = log, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (!line[strspn(line, " \t\r")]) continue;
        total++;
        if (lines < LOG_LINES) {
            ocl_log(be, level, "build log: %s", line);
            lines++;
        }
        if (!first[0] || (strstr(line, "error") && !strstr(first, "error"))) snprintf(first, first_size, "%s", line);
    }
    if (total > lines) ocl_log(be, level, "build log: ... %d more lines", total - lines);
}

/* Builds src with options into *out; on failure logs the build log at `level`, leaves the first
 * line naming an error in first[] and returns the OpenCL error (*created = 0 when already the
 * program object could not be made). */
static cl_int build_from_source(hrm_device *dev, const char *src, const char *options, hrm_log_level level,
                                cl_program *out, int *created, char *first, size_t first_size) {
    cl_int err;
    first[0] = '\0';
    *out = clCreateProgramWithSource(dev->ctx, 1, &src, NULL, &err);
    *created = *out != NULL;
    if (!*out) return err;
    err = clBuildProgram(*out, 1, &dev->id, options, NULL, NULL);
    if (err == CL_SUCCESS) return CL_SUCCESS;
    size_t n = 0;
    clGetProgramBuildInfo(*out, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(*out, dev->id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = '\0';
        report_build_log(dev->be, level, log, first, first_size);
    }
    free(log);
    clReleaseProgram(*out);
    *out = NULL;
    return err;
}

cl_int ocl_program_build(hrm_device *dev, const char *src, size_t src_size, const char *options, hrm_log_level level,
                         cl_program *out, int *created, char *first, size_t first_size) {
    char path[4096], dir[4000];
    first[0] = '\0';
    *created = 1;
    int cached = cache_path(dev, src, src_size, options, path, sizeof path, dir, sizeof dir);
    *out = cached ? load_cached(dev, path, options) : NULL;
    if (*out) return CL_SUCCESS;
    cl_int err = build_from_source(dev, src, options, level, out, created, first, first_size);
    if (err == CL_SUCCESS && cached) store_cached(dev, *out, path, dir);
    return err;
}

/* Work-group size: the largest power of two within the kernel's and the device's limits. */
static size_t pick_wg(hrm_device *dev, cl_kernel k) {
    size_t lim = dev->max_wg, kw = 0;
    if (clGetKernelWorkGroupInfo(k, dev->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kw, &kw, NULL) == CL_SUCCESS && kw > 0 &&
        kw < lim)
        lim = kw;
    if (lim > 256) lim = 256;
    size_t wg = 1;
    while (wg * 2 <= lim) wg *= 2;
    return wg;
}

/* The preferred multiple of the work-group size; 1 when the driver does not say. */
static size_t pick_multiple(hrm_device *dev, cl_kernel k) {
    size_t m = 0;
    if (clGetKernelWorkGroupInfo(k, dev->id, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof m, &m, NULL) !=
            CL_SUCCESS ||
        m == 0)
        m = 1;
    return m;
}

/* Local memory the kernel needs before its __local arguments: queried once, here, because the
 * same query after a launch also counts the __local arguments of that launch. */
static size_t local_fixed(hrm_device *dev, cl_kernel k) {
    cl_ulong used = 0;
    clGetKernelWorkGroupInfo(k, dev->id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof used, &used, NULL);
    return (size_t)used;
}

void ocl_kernel_limits(hrm_device *dev, ocl_kernel *k) {
    k->wg = pick_wg(dev, k->k);
    k->multiple = pick_multiple(dev, k->k);
    k->local_fixed = local_fixed(dev, k->k);
}

hrm_status ocl_program_init(hrm_device *dev) {
    set_build_options(dev);
    char first[256];
    int created;
    cl_int err = ocl_program_build(dev, ocl_kernel_source, sizeof ocl_kernel_source, dev->build_options, HRM_LOG_ERROR,
                                   &dev->program, &created, first, sizeof first);
    if (err != CL_SUCCESS) {
        if (!created) return ocl_cl_fail(dev->be, err, "device_open", "clCreateProgramWithSource");
        return ocl_fail(dev->be, HRM_ERR_BUILD, "kernel build failed on %s (options \"%s\"): %s: %s",
                        dev->be->devs[dev->index].info.name, dev->build_options, ocl_err_name(err),
                        first[0] ? first : "no build log");
    }
#define MAKE_KERNEL(name, str)                                                                    \
    dev->name.k = clCreateKernel(dev->program, str, &err);                                        \
    if (!dev->name.k) return ocl_cl_fail(dev->be, err, "device_open", "clCreateKernel(" str ")"); \
    ocl_kernel_limits(dev, &dev->name);
    OCL_KERNELS(MAKE_KERNEL)
#undef MAKE_KERNEL
    return HRM_OK;
}

void ocl_program_release(hrm_device *dev) {
#define FREE_KERNEL(name, str) \
    if (dev->name.k) clReleaseKernel(dev->name.k);
    OCL_KERNELS(FREE_KERNEL)
#undef FREE_KERNEL
    if (dev->program) clReleaseProgram(dev->program);
    dev->program = NULL;
}
