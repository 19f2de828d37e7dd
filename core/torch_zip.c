/* core/torch_zip.c - the ZIP reader under torch_ckpt.c: a central directory (ZIP64 included) of
 * STORED entries, as torch.save writes them (see torch_ckpt.h).
 *
 * torch.save's writer (miniz) sets bit 3 of every local header: the local header's CRC and sizes
 * are zero and follow the data in a descriptor, so the central directory is the only source of
 * sizes. Local headers carry padding in their extra field (data 64-byte aligned), which is why
 * each entry's data offset is taken from its local header. Compressed or encrypted entries are
 * refused by name: torch never writes them, and supporting them would need zlib. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "io_util.h"
#include "torch_ckpt.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_ZIP64_EOCD 0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u
#define EOCD_BYTES 22
#define LOCATOR_BYTES 20
#define ZIP64_EOCD_BYTES 56
#define CENTRAL_BYTES 46
#define LOCAL_BYTES 30
#define MAX_COMMENT 65535
#define MAX_ENTRIES (1 << 20)
#define MAX_CENTRAL_DIR (256u << 20)

typedef struct zip_entry {
    char *name;
    uint64_t size; /* bytes, stored = compressed size */
    uint64_t data; /* file offset of the first byte */
    uint32_t crc;
} zip_entry;

struct hrm_zip {
    FILE *f;
    char *path;
    uint64_t file_size;
    zip_entry *entries;
    int count;
};

/* ---- CRC-32 ------------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t hrm_crc32(uint32_t crc, const void *data, size_t bytes) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < bytes; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- reading -------------------------------------------------------------------------------- */

static hrm_status read_at(hrm_zip *z, uint64_t offset, void *dst, size_t bytes, const char *what, char *err, size_t n) {
    if (offset > z->file_size || bytes > z->file_size - offset)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                           "truncated ZIP archive: %s runs past the end of the file", what);
    if (fseeko(z->f, (off_t)offset, SEEK_SET))
        return hrm_io_fail(err, n, HRM_ERR_NOT_AVAILABLE, z->path, "cannot seek to %s", what);
    return hrm_file_read(z->f, z->path, dst, bytes, what, err, n);
}

/* Where the central directory lies: from the end record, or its ZIP64 version when present. */
typedef struct zip_dir {
    uint64_t offset, size, count;
} zip_dir;

static hrm_status read_zip64_end(hrm_zip *z, uint64_t eocd, zip_dir *d, int *found, char *err, size_t n) {
    unsigned char loc[LOCATOR_BYTES], rec[ZIP64_EOCD_BYTES];
    hrm_status s;
    *found = 0;
    if (eocd < LOCATOR_BYTES) return HRM_OK;
    if ((s = read_at(z, eocd - LOCATOR_BYTES, loc, sizeof loc, "ZIP64 locator", err, n))) return s;
    if (hrm_le32(loc) != SIG_ZIP64_LOCATOR) return HRM_OK;
    uint64_t at = hrm_le64(loc + 8);
    if ((s = read_at(z, at, rec, sizeof rec, "ZIP64 end record", err, n))) return s;
    if (hrm_le32(rec) != SIG_ZIP64_EOCD)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: bad ZIP64 end record");
    if (hrm_le32(rec + 16) != 0 || hrm_le32(rec + 20) != 0 || hrm_le64(rec + 24) != hrm_le64(rec + 32))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "multi-disk ZIP archives are not supported");
    d->count = hrm_le64(rec + 32);
    d->size = hrm_le64(rec + 40);
    d->offset = hrm_le64(rec + 48);
    *found = 1;
    return HRM_OK;
}

static hrm_status find_central_dir(hrm_zip *z, zip_dir *d, char *err, size_t n) {
    if (z->file_size < EOCD_BYTES)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "not a ZIP archive (%llu bytes)",
                           (unsigned long long)z->file_size);
    size_t tail_len = z->file_size < EOCD_BYTES + MAX_COMMENT ? (size_t)z->file_size : EOCD_BYTES + MAX_COMMENT;
    unsigned char *tail = malloc(tail_len);
    if (!tail) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, z->path, "out of memory");
    hrm_status s = read_at(z, z->file_size - tail_len, tail, tail_len, "end of archive", err, n);
    long at = -1;
    for (long i = (long)tail_len - EOCD_BYTES; !s && i >= 0; i--)
        if (hrm_le32(tail + i) == SIG_EOCD && (size_t)i + EOCD_BYTES + hrm_le16(tail + i + 20) == tail_len) {
            at = i;
            break;
        }
    if (!s && at < 0) {
        /* A pickle at the start is torch.save's legacy (torch < 1.6) format. */
        unsigned char head[2] = {0, 0};
        int legacy = !read_at(z, 0, head, sizeof head, "start", NULL, 0) && head[0] == 0x80 && head[1] <= 5;
        s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "%s",
                        legacy ? "legacy torch.save format (torch < 1.6): re-save it with a recent torch"
                               : "not a ZIP archive or truncated (no end-of-central-directory record)");
    }
    if (!s) {
        const unsigned char *e = tail + at;
        uint64_t eocd = z->file_size - tail_len + (uint64_t)at;
        d->count = hrm_le16(e + 10);
        d->size = hrm_le32(e + 12);
        d->offset = hrm_le32(e + 16);
        if (hrm_le16(e + 4) != 0 || hrm_le16(e + 6) != 0 || hrm_le16(e + 8) != hrm_le16(e + 10))
            s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "multi-disk ZIP archives are not supported");
        int zip64 = 0;
        if (!s) s = read_zip64_end(z, eocd, d, &zip64, err, n);
        if (!s && !zip64 && (d->count == 0xffff || d->size == 0xffffffffu || d->offset == 0xffffffffu))
            s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                            "corrupt ZIP archive: ZIP64 sizes without a ZIP64 record");
        if (!s && (d->offset > eocd || d->size > eocd - d->offset || d->size > MAX_CENTRAL_DIR))
            s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                            "corrupt ZIP archive: central directory out of range");
        if (!s && (d->count > MAX_ENTRIES || d->count * CENTRAL_BYTES > d->size))
            s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: %llu entries",
                            (unsigned long long)d->count);
    }
    free(tail);
    return s;
}

/* Applies a ZIP64 extended-information extra field to the 32-bit values that are saturated. */
static int apply_zip64_extra(const unsigned char *x, size_t len, uint64_t *size, uint64_t *comp, uint64_t *offset) {
    while (len >= 4) {
        unsigned id = hrm_le16(x), sz = hrm_le16(x + 2);
        if (sz > len - 4) return 0;
        if (id == 1) {
            const unsigned char *p = x + 4, *end = x + 4 + sz;
            uint64_t *fields[3] = {size, comp, offset};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (end - p < 8) return 0;
                *fields[i] = hrm_le64(p);
                p += 8;
            }
            return 1;
        }
        x += 4 + sz;
        len -= 4 + sz;
    }
    return *size != 0xffffffffu && *comp != 0xffffffffu && *offset != 0xffffffffu;
}

/* Parses central directory record number i at cd[*pos], fills e and advances *pos. */
static hrm_status parse_central(hrm_zip *z, const unsigned char *cd, size_t cd_size, size_t *pos, zip_entry *e,
                                uint64_t *local, char *err, size_t n) {
    const unsigned char *r = cd + *pos;
    if (cd_size - *pos < CENTRAL_BYTES || hrm_le32(r) != SIG_CENTRAL)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: bad central directory record");
    unsigned flags = hrm_le16(r + 8), method = hrm_le16(r + 10);
    size_t name_len = hrm_le16(r + 28), extra_len = hrm_le16(r + 30), comment_len = hrm_le16(r + 32);
    if (cd_size - *pos - CENTRAL_BYTES < name_len + extra_len + comment_len)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                           "corrupt ZIP archive: central directory record too long");
    e->name = malloc(name_len + 1);
    if (!e->name) return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, z->path, "out of memory");
    memcpy(e->name, r + CENTRAL_BYTES, name_len);
    e->name[name_len] = 0;
    if (strlen(e->name) != name_len)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: entry name with a NUL byte");
    uint64_t comp = hrm_le32(r + 20);
    e->crc = hrm_le32(r + 16);
    e->size = hrm_le32(r + 24);
    *local = hrm_le32(r + 42);
    if (!apply_zip64_extra(r + CENTRAL_BYTES + name_len, extra_len, &e->size, &comp, local))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: bad ZIP64 field of entry '%s'",
                           e->name);
    if (flags & 1) return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "entry '%s' is encrypted", e->name);
    if (method != 0)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                           "entry '%s' is compressed (method %u); torch.save writes stored entries only", e->name,
                           method);
    if (comp != e->size)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: stored entry '%s' has two sizes",
                           e->name);
    *pos += CENTRAL_BYTES + name_len + extra_len + comment_len;
    return HRM_OK;
}

/* Finds where entry e's data starts from its local header, and checks it lies in the file. */
static hrm_status locate_data(hrm_zip *z, zip_entry *e, uint64_t local, uint64_t limit, char *err, size_t n) {
    unsigned char h[LOCAL_BYTES];
    hrm_status s = read_at(z, local, h, sizeof h, "a local header", err, n);
    if (s) return s;
    if (hrm_le32(h) != SIG_LOCAL || hrm_le16(h + 8) != 0)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: bad local header of entry '%s'",
                           e->name);
    size_t name_len = hrm_le16(h + 26);
    if (name_len != strlen(e->name))
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path,
                           "corrupt ZIP archive: local header of '%s' names another entry", e->name);
    e->data = local + LOCAL_BYTES + name_len + hrm_le16(h + 28);
    if (e->data > limit || e->size > limit - e->data)
        return hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "truncated ZIP archive: entry '%s' runs past its end",
                           e->name);
    return HRM_OK;
}

static hrm_status read_central_dir(hrm_zip *z, const zip_dir *d, char *err, size_t n) {
    unsigned char *cd = malloc(d->size ? (size_t)d->size : 1);
    z->entries = calloc(d->count ? (size_t)d->count : 1, sizeof *z->entries);
    if (!cd || !z->entries) {
        free(cd);
        return hrm_io_fail(err, n, HRM_ERR_OUT_OF_MEMORY, z->path, "out of memory");
    }
    hrm_status s = read_at(z, d->offset, cd, (size_t)d->size, "central directory", err, n);
    size_t pos = 0;
    for (uint64_t i = 0; !s && i < d->count; i++) {
        uint64_t local = 0;
        zip_entry *e = &z->entries[z->count++];
        s = parse_central(z, cd, (size_t)d->size, &pos, e, &local, err, n);
        if (!s) s = locate_data(z, e, local, d->offset, err, n);
        for (int j = 0; !s && j + 1 < z->count; j++)
            if (!strcmp(z->entries[j].name, e->name))
                s = hrm_io_fail(err, n, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: entry '%s' appears twice",
                                e->name);
    }
    free(cd);
    return s;
}

hrm_status hrm_zip_open(const char *path, hrm_zip **out, char *err, size_t err_size) {
    hrm_zip *z = calloc(1, sizeof *z);
    *out = NULL;
    if (!z || !(z->path = strdup(path))) {
        free(z);
        return hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of memory");
    }
    zip_dir d = {0, 0, 0};
    hrm_status s = hrm_file_open_read(path, &z->f, &z->file_size, err, err_size);
    if (!s) s = find_central_dir(z, &d, err, err_size);
    if (!s) s = read_central_dir(z, &d, err, err_size);
    if (s) {
        hrm_zip_close(z);
        return s;
    }
    *out = z;
    return HRM_OK;
}

int hrm_zip_count(const hrm_zip *z) { return z->count; }
const char *hrm_zip_name(const hrm_zip *z, int i) { return z->entries[i].name; }
uint64_t hrm_zip_size(const hrm_zip *z, int i) { return z->entries[i].size; }

int hrm_zip_find(const hrm_zip *z, const char *name) {
    for (int i = 0; i < z->count; i++)
        if (!strcmp(z->entries[i].name, name)) return i;
    return -1;
}

hrm_status hrm_zip_read(hrm_zip *z, int i, void *dst, char *err, size_t err_size) {
    const zip_entry *e = &z->entries[i];
    hrm_status s = read_at(z, e->data, dst, (size_t)e->size, e->name, err, err_size);
    if (!s && hrm_crc32(0, dst, (size_t)e->size) != e->crc)
        s = hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, z->path, "corrupt ZIP archive: CRC mismatch in entry '%s'",
                        e->name);
    return s;
}

void hrm_zip_close(hrm_zip *z) {
    if (!z) return;
    if (z->f) fclose(z->f);
    for (int i = 0; i < z->count; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->path);
    free(z);
}
