/* core/io_util.c - one-line file errors, little-endian decoding, checked sizes, and atomic file
 * replacement (PATH.tmp, fsync, rename, fsync of the folder) for the core's readers and writers. */
#include "io_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hrm_status hrm_io_fail(char *err, size_t err_size, hrm_status status, const char *file, const char *fmt, ...) {
    if (!err || !err_size) return status;
    int n = snprintf(err, err_size, "%s: ", file ? file : "(no file)");
    if (n >= 0 && (size_t)n < err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

uint16_t hrm_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t hrm_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t hrm_le64(const unsigned char *p) { return (uint64_t)hrm_le32(p) | (uint64_t)hrm_le32(p + 4) << 32; }

void hrm_put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

float hrm_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

float hrm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in float */
        float x = (float)man * 5.9604644775390625e-8f;
        return sign ? -x : x;
    }
    bits = sign | (exp == 0x1f ? 0x7f800000u : (exp + 112) << 23) | man << 13;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

bool hrm_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

const char *hrm_shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t n = 0;
    if (!size) return buf;
    buf[0] = 0;
    if (ndim == 0) snprintf(buf, size, "scalar");
    for (int i = 0; i < ndim && n < size; i++) {
        int w = snprintf(buf + n, size - n, i ? " x %lld" : "%lld", (long long)shape[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

hrm_status hrm_file_open_read(const char *path, FILE **f, uint64_t *size, char *err, size_t err_size) {
    struct stat st;
    *f = fopen(path, "rb");
    if (!*f) return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, path, "cannot open: %s", strerror(errno));
    if (fstat(fileno(*f), &st) || !S_ISREG(st.st_mode)) {
        fclose(*f);
        *f = NULL;
        return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, path, "not a regular file");
    }
    *size = (uint64_t)st.st_size;
    return HRM_OK;
}

hrm_status hrm_file_read(FILE *f, const char *path, void *dst, size_t bytes, const char *what, char *err,
                         size_t err_size) {
    size_t got = bytes ? fread(dst, 1, bytes, f) : 0;
    if (got == bytes) return HRM_OK;
    if (ferror(f))
        return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, path, "read error in %s: %s", what, strerror(errno));
    return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "truncated: %s needs %zu bytes, file has %zu", what,
                       bytes, got);
}

/* ---- atomic replacement ------------------------------------------------------------------- */

hrm_status hrm_atomic_open(hrm_atomic_file *af, const char *path, char *err, size_t err_size) {
    size_t n = strlen(path);
    af->path = path;
    af->f = NULL;
    af->tmp = malloc(n + 5);
    if (!af->tmp) return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", 5);
    af->f = fopen(af->tmp, "wb");
    if (af->f) return HRM_OK;
    int e = errno;
    free(af->tmp);
    af->tmp = NULL;
    return hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, path, "cannot create %s.tmp: %s", path, strerror(e));
}

void hrm_atomic_abort(hrm_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    free(af->tmp);
    af->f = NULL;
    af->tmp = NULL;
}

static hrm_status atomic_fail(hrm_atomic_file *af, const char *what, int e, char *err, size_t err_size) {
    hrm_status s = hrm_io_fail(err, err_size, HRM_ERR_NOT_AVAILABLE, af->path,
                               "%s failed: %s (the previous file, if any, is untouched)", what, strerror(e));
    hrm_atomic_abort(af);
    return s;
}

hrm_status hrm_atomic_write(hrm_atomic_file *af, const void *data, size_t bytes, char *err, size_t err_size) {
    if (!bytes || fwrite(data, 1, bytes, af->f) == bytes) return HRM_OK;
    return atomic_fail(af, "write", errno, err, err_size);
}

/* After the rename, the folder entry must reach the disk too. Best effort: some file systems
 * refuse fsync on a folder, and the data itself is already safe. */
static void fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

hrm_status hrm_atomic_commit(hrm_atomic_file *af, char *err, size_t err_size) {
    if (fflush(af->f)) return atomic_fail(af, "write", errno, err, err_size);
    if (fsync(fileno(af->f))) return atomic_fail(af, "fsync", errno, err, err_size);
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f)) return atomic_fail(af, "close", errno, err, err_size);
    if (rename(af->tmp, af->path)) return atomic_fail(af, "rename", errno, err, err_size);
    free(af->tmp);
    af->tmp = NULL;
    fsync_parent(af->path);
    return HRM_OK;
}

hrm_status hrm_atomic_write_file(const char *path, const void *data, size_t bytes, char *err, size_t err_size) {
    hrm_atomic_file af;
    hrm_status s = hrm_atomic_open(&af, path, err, err_size);
    if (s == HRM_OK) s = hrm_atomic_write(&af, data, bytes, err, err_size);
    if (s == HRM_OK) s = hrm_atomic_commit(&af, err, err_size);
    if (s) hrm_atomic_abort(&af);
    return s;
}
