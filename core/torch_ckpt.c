/* core/torch_ckpt.c - torch.save'd state dicts: the strict pickle machine and the tensors it
 * describes (see torch_ckpt.h; the ZIP layer is torch_zip.c).
 *
 * The pickle is run by a stack machine over objects of a few kinds (none, bool, int, float, str,
 * tuple, list, dict, a known global, a storage, a tensor). Every object is linked into one list
 * freed at the end, so shared and even cyclic references cost nothing and nothing recurses.
 * Limits keep a hostile file cheap: the pickle size, the object count, the stack, the memo; MARK
 * positions live on their own stack, so no opcode scans the value stack. */
#include <stdlib.h>
#include <string.h>

#include "io_util.h"
#include "torch_ckpt.h"

#define MAX_PICKLE (64u << 20)
#define MAX_OBJECTS (1 << 20)
#define MAX_STACK (1 << 20)
#define MAX_GLOBAL_LINE 128
#define MAX_DIM_SIZE (INT64_C(1) << 40)
#define MAX_ARCHIVE_VERSION 10

/* ---- globals a state dict may name -------------------------------------------------------- */

typedef struct storage_class {
    const char *name; /* torch.<name> */
    const char *dtype_name;
    hrm_torch_dtype dtype;
    int elsize;
} storage_class;

static const storage_class storage_classes[] = {
    {"FloatStorage", "float32", HRM_TORCH_F32, 4}, {"BFloat16Storage", "bfloat16", HRM_TORCH_BF16, 2},
    {"HalfStorage", "float16", HRM_TORCH_F16, 2},  {"DoubleStorage", "float64", HRM_TORCH_OTHER, 8},
    {"LongStorage", "int64", HRM_TORCH_OTHER, 8},  {"IntStorage", "int32", HRM_TORCH_OTHER, 4},
    {"ShortStorage", "int16", HRM_TORCH_OTHER, 2}, {"CharStorage", "int8", HRM_TORCH_OTHER, 1},
    {"ByteStorage", "uint8", HRM_TORCH_OTHER, 1},  {"BoolStorage", "bool", HRM_TORCH_OTHER, 1},
};
#define NUM_STORAGE_CLASSES ((int)(sizeof storage_classes / sizeof storage_classes[0]))

enum { G_ORDERED_DICT, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_STORAGE0 };

static const struct {
    const char *module, *name;
} callables[] = {
    {"collections", "OrderedDict"}, {"torch._utils", "_rebuild_tensor_v2"}, {"torch._utils", "_rebuild_parameter"}};

/* ---- objects ------------------------------------------------------------------------------- */

typedef enum pv_kind {
    PV_NONE,
    PV_BOOL,
    PV_INT,
    PV_FLOAT,
    PV_STR,
    PV_TUPLE,
    PV_LIST,
    PV_DICT,
    PV_GLOBAL,
    PV_STORAGE,
    PV_TENSOR
} pv_kind;
static const char *const kind_names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                         "list", "dict", "global", "storage", "tensor"};

typedef struct pv pv;

typedef struct pv_tensor {
    const pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[HRM_TORCH_MAX_DIMS];
    size_t count;
} pv_tensor;

struct pv {
    pv_kind kind;
    pv *next; /* every object made, for freeing */
    union {
        int64_t i; /* BOOL, INT; GLOBAL: G_* */
        double f;
        char *s; /* STR */
        struct {
            pv **items; /* DICT: key, value, key, value, ... */
            size_t n, cap;
        } seq;
        struct {
            int cls; /* index in storage_classes */
            const char *key;
            int64_t numel;
        } storage;
        pv_tensor *tensor;
    } u;
};

typedef struct vm {
    const char *path;
    const unsigned char *p;
    size_t len, pos, op_pos;
    char *err;
    size_t err_size;
    pv *objects;
    int num_objects;
    pv **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t num_marks, marks_cap;
    pv **memo;
    size_t memo_cap, memo_used;
} vm;

static hrm_status fail(vm *m, const char *what) {
    return hrm_io_fail(m->err, m->err_size, HRM_ERR_INVALID_ARG, m->path, "data.pkl: %s (pickle byte %zu)", what,
                       m->op_pos);
}

static hrm_status oom(vm *m) {
    return hrm_io_fail(m->err, m->err_size, HRM_ERR_OUT_OF_MEMORY, m->path, "out of memory");
}

static pv *new_pv(vm *m, pv_kind kind) {
    if (m->num_objects >= MAX_OBJECTS) return NULL;
    pv *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    v->next = m->objects;
    m->objects = v;
    m->num_objects++;
    return v;
}

static void free_objects(vm *m) {
    for (pv *v = m->objects, *next; v; v = next) {
        next = v->next;
        if (v->kind == PV_STR) free(v->u.s);
        if (v->kind == PV_TUPLE || v->kind == PV_LIST || v->kind == PV_DICT) free(v->u.seq.items);
        if (v->kind == PV_TENSOR) free(v->u.tensor);
        free(v);
    }
    m->objects = NULL;
}

/* Makes an object or fails: the object limit and malloc failure read differently. */
static hrm_status make(vm *m, pv_kind kind, pv **out) {
    if (m->num_objects >= MAX_OBJECTS) return fail(m, "too many objects");
    return (*out = new_pv(m, kind)) ? HRM_OK : oom(m);
}

static hrm_status seq_append(vm *m, pv *seq, pv *item) {
    if (seq->u.seq.n == seq->u.seq.cap) {
        size_t cap = seq->u.seq.cap ? 2 * seq->u.seq.cap : 8;
        pv **items = realloc(seq->u.seq.items, cap * sizeof *items);
        if (!items) return oom(m);
        seq->u.seq.items = items;
        seq->u.seq.cap = cap;
    }
    seq->u.seq.items[seq->u.seq.n++] = item;
    return HRM_OK;
}

/* ---- the stack ------------------------------------------------------------------------------ */

static hrm_status push(vm *m, pv *v) {
    if (m->sp == m->stack_cap) {
        if (m->stack_cap >= MAX_STACK) return fail(m, "stack too deep");
        size_t cap = m->stack_cap ? 2 * m->stack_cap : 64;
        pv **s = realloc(m->stack, cap * sizeof *s);
        if (!s) return oom(m);
        m->stack = s;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = v;
    return HRM_OK;
}

/* The stack bottom for values: the last MARK, which a plain pop must not cross. */
static size_t stack_floor(const vm *m) { return m->num_marks ? m->marks[m->num_marks - 1] : 0; }

static hrm_status pop(vm *m, pv **out) {
    if (m->sp <= stack_floor(m)) return fail(m, m->num_marks ? "unexpected MARK" : "stack underflow");
    *out = m->stack[--m->sp];
    return HRM_OK;
}

static hrm_status top(vm *m, pv **out) {
    if (m->sp <= stack_floor(m)) return fail(m, m->num_marks ? "unexpected MARK" : "stack underflow");
    *out = m->stack[m->sp - 1];
    return HRM_OK;
}

static hrm_status push_mark(vm *m) {
    if (m->num_marks == m->marks_cap) {
        if (m->marks_cap >= MAX_STACK) return fail(m, "too many MARKs");
        size_t cap = m->marks_cap ? 2 * m->marks_cap : 16;
        size_t *s = realloc(m->marks, cap * sizeof *s);
        if (!s) return oom(m);
        m->marks = s;
        m->marks_cap = cap;
    }
    m->marks[m->num_marks++] = m->sp;
    return HRM_OK;
}

/* Pops everything down to the last MARK: items are m->stack[*first .. m->sp) until the next push. */
static hrm_status pop_mark(vm *m, size_t *first) {
    if (!m->num_marks) return fail(m, "no MARK on the stack");
    *first = m->marks[--m->num_marks];
    return HRM_OK;
}

/* ---- reading the opcode stream -------------------------------------------------------------- */

static hrm_status need(vm *m, size_t bytes, const unsigned char **at) {
    if (m->len - m->pos < bytes) return fail(m, "truncated pickle");
    *at = m->p + m->pos;
    m->pos += bytes;
    return HRM_OK;
}

static hrm_status read_uint(vm *m, int bytes, uint64_t *v) {
    const unsigned char *b = NULL;
    hrm_status s = need(m, (size_t)bytes, &b);
    *v = 0;
    for (int i = 0; !s && i < bytes; i++) *v |= (uint64_t)b[i] << (8 * i);
    return s;
}

static hrm_status push_int(vm *m, int64_t value) {
    pv *v = NULL;
    hrm_status s = make(m, PV_INT, &v);
    if (!s) v->u.i = value, s = push(m, v);
    return s;
}

static hrm_status push_str(vm *m, uint64_t len) {
    const unsigned char *b = NULL;
    pv *v = NULL;
    hrm_status s = len > m->len - m->pos ? fail(m, "truncated pickle") : need(m, (size_t)len, &b);
    if (!s && memchr(b, 0, (size_t)len)) s = fail(m, "string with a NUL byte");
    if (!s) s = make(m, PV_STR, &v);
    if (!s && !(v->u.s = malloc((size_t)len + 1))) s = oom(m);
    if (s) return s;
    memcpy(v->u.s, b, (size_t)len);
    v->u.s[len] = 0;
    return push(m, v);
}

/* LONG1: n bytes of little-endian two's complement, n <= 8 here. */
static hrm_status op_long1(vm *m) {
    uint64_t n = 0, raw = 0;
    hrm_status s = read_uint(m, 1, &n);
    if (!s && n > 8) s = fail(m, "integer wider than 64 bits");
    if (!s) s = read_uint(m, (int)n, &raw);
    if (s) return s;
    if (n > 0 && n < 8 && (raw >> (8 * n - 1) & 1)) raw |= ~UINT64_C(0) << (8 * n); /* sign-extend */
    return push_int(m, (int64_t)raw);
}

static hrm_status op_binfloat(vm *m) {
    const unsigned char *b = NULL;
    pv *v = NULL;
    hrm_status s = need(m, 8, &b);
    if (!s) s = make(m, PV_FLOAT, &v);
    if (s) return s;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | b[i]; /* big-endian */
    memcpy(&v->u.f, &bits, sizeof v->u.f);
    return push(m, v);
}

/* Resolves "module name" to a known global. */
static hrm_status push_global(vm *m, const char *module, const char *name) {
    int g = -1;
    for (int i = 0; i < (int)(sizeof callables / sizeof callables[0]); i++)
        if (!strcmp(module, callables[i].module) && !strcmp(name, callables[i].name)) g = i;
    for (int i = 0; g < 0 && i < NUM_STORAGE_CLASSES; i++)
        if (!strcmp(module, "torch") && !strcmp(name, storage_classes[i].name)) g = G_STORAGE0 + i;
    if (g < 0) {
        char what[2 * MAX_GLOBAL_LINE + 64];
        snprintf(what, sizeof what, "unsupported global %s.%s (not a plain state dict of tensors)", module, name);
        return fail(m, what);
    }
    pv *v = NULL;
    hrm_status s = make(m, PV_GLOBAL, &v);
    if (!s) v->u.i = g, s = push(m, v);
    return s;
}

/* GLOBAL: "module\nname\n". */
static hrm_status op_global(vm *m) {
    char parts[2][MAX_GLOBAL_LINE];
    for (int k = 0; k < 2; k++) {
        const unsigned char *start = m->p + m->pos;
        size_t avail = m->len - m->pos, max = avail < MAX_GLOBAL_LINE ? avail : MAX_GLOBAL_LINE;
        const unsigned char *nl = memchr(start, '\n', max);
        if (!nl) return fail(m, "bad GLOBAL");
        size_t n = (size_t)(nl - start);
        memcpy(parts[k], start, n);
        parts[k][n] = 0;
        if (strlen(parts[k]) != n) return fail(m, "bad GLOBAL");
        m->pos += n + 1;
    }
    return push_global(m, parts[0], parts[1]);
}

static hrm_status op_stack_global(vm *m) {
    pv *module = NULL, *name = NULL;
    hrm_status s = pop(m, &name);
    if (!s) s = pop(m, &module);
    if (!s && (module->kind != PV_STR || name->kind != PV_STR)) s = fail(m, "STACK_GLOBAL needs two strings");
    return s ? s : push_global(m, module->u.s, name->u.s);
}

/* ---- containers ------------------------------------------------------------------------------ */

static hrm_status push_tuple_of(vm *m, size_t first) {
    pv *t = NULL;
    hrm_status s = make(m, PV_TUPLE, &t);
    for (size_t i = first; !s && i < m->sp; i++) s = seq_append(m, t, m->stack[i]);
    if (s) return s;
    m->sp = first;
    return push(m, t);
}

static hrm_status op_tuple_n(vm *m, size_t n) {
    if (m->sp - stack_floor(m) < n) return fail(m, m->num_marks ? "unexpected MARK" : "stack underflow");
    return push_tuple_of(m, m->sp - n);
}

static hrm_status op_tuple(vm *m) {
    size_t first = 0;
    hrm_status s = pop_mark(m, &first);
    return s ? s : push_tuple_of(m, first);
}

static hrm_status push_empty(vm *m, pv_kind kind) {
    pv *v = NULL;
    hrm_status s = make(m, kind, &v);
    return s ? s : push(m, v);
}

/* SETITEM(S) and APPEND(S): the items from stack[first..sp) go into the container below them. */
static hrm_status fill(vm *m, size_t first, pv_kind kind) {
    const char *what = kind == PV_DICT ? "SETITEMS on a non-dict" : "APPENDS on a non-list";
    if (first <= stack_floor(m)) return fail(m, m->num_marks ? "unexpected MARK" : "stack underflow");
    pv *target = m->stack[first - 1];
    if (target->kind != kind) return fail(m, what);
    if (kind == PV_DICT && (m->sp - first) % 2) return fail(m, "SETITEMS with an odd number of items");
    hrm_status s = HRM_OK;
    for (size_t i = first; !s && i < m->sp; i++) s = seq_append(m, target, m->stack[i]);
    m->sp = first;
    return s;
}

static hrm_status op_fill_mark(vm *m, pv_kind kind) {
    size_t first = 0;
    hrm_status s = pop_mark(m, &first);
    return s ? s : fill(m, first, kind);
}

static hrm_status op_fill_n(vm *m, size_t n, pv_kind kind) {
    if (m->sp - stack_floor(m) < n) return fail(m, m->num_marks ? "unexpected MARK" : "stack underflow");
    return fill(m, m->sp - n, kind);
}

/* ---- memo ------------------------------------------------------------------------------------ */

static hrm_status memo_put(vm *m, uint64_t index) {
    pv *v = NULL;
    hrm_status s = top(m, &v);
    if (s) return s;
    if (index >= MAX_OBJECTS) return fail(m, "memo index out of range");
    if (index >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= index) cap *= 2;
        pv **memo = realloc(m->memo, cap * sizeof *memo);
        if (!memo) return oom(m);
        memset(memo + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *memo);
        m->memo = memo;
        m->memo_cap = cap;
    }
    if (!m->memo[index]) m->memo_used++;
    m->memo[index] = v;
    return HRM_OK;
}

static hrm_status op_put(vm *m, int bytes) {
    uint64_t index = 0;
    hrm_status s = read_uint(m, bytes, &index);
    return s ? s : memo_put(m, index);
}

static hrm_status op_get(vm *m, int bytes) {
    uint64_t index = 0;
    hrm_status s = read_uint(m, bytes, &index);
    if (!s && (index >= m->memo_cap || !m->memo[index])) s = fail(m, "memo index not set");
    return s ? s : push(m, m->memo[index]);
}

/* ---- persistent ids, REDUCE, BUILD ------------------------------------------------------------ */

static int is_int(const pv *v) { return v->kind == PV_INT; }

/* ('storage', torch.<X>Storage, key, location, numel) */
static hrm_status op_binpersid(vm *m) {
    pv *id = NULL, *v = NULL;
    hrm_status s = pop(m, &id);
    if (s) return s;
    pv **it = id->kind == PV_TUPLE ? id->u.seq.items : NULL;
    if (!it || id->u.seq.n != 5 || it[0]->kind != PV_STR || strcmp(it[0]->u.s, "storage") || it[1]->kind != PV_GLOBAL ||
        it[1]->u.i < G_STORAGE0 || it[2]->kind != PV_STR || it[3]->kind != PV_STR || !is_int(it[4]) || it[4]->u.i < 0)
        return fail(m, "persistent id is not ('storage', torch.<type>Storage, key, location, numel)");
    if ((s = make(m, PV_STORAGE, &v))) return s;
    v->u.storage.cls = (int)(it[1]->u.i - G_STORAGE0);
    v->u.storage.key = it[2]->u.s;
    v->u.storage.numel = it[4]->u.i;
    return push(m, v);
}

/* Reads a tuple of ints (a size or stride) into dims. */
static int int_tuple(const pv *t, int64_t *dims, int *ndim) {
    if (t->kind != PV_TUPLE || t->u.seq.n > HRM_TORCH_MAX_DIMS) return 0;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (!is_int(t->u.seq.items[i])) return 0;
        dims[i] = t->u.seq.items[i]->u.i;
    }
    *ndim = (int)t->u.seq.n;
    return 1;
}

/* Checks a row-major contiguous layout (dims of size 1 may have any stride); counts elements. */
static const char *check_layout(pv_tensor *t, const int64_t *stride) {
    int64_t expect = 1;
    t->count = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] < 0 || t->shape[d] > MAX_DIM_SIZE) return "tensor size out of range";
        if (t->shape[d] != 1 && stride[d] != expect)
            return "non-contiguous tensor (unsupported: save it .contiguous())";
        if (!hrm_mul_size(t->count, (size_t)t->shape[d], &t->count) || t->count > (size_t)MAX_DIM_SIZE)
            return "tensor size out of range";
        expect = (int64_t)t->count;
    }
    return NULL;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
static hrm_status rebuild_tensor(vm *m, const pv *args, pv **out) {
    pv **a = args->u.seq.items;
    int64_t stride[HRM_TORCH_MAX_DIMS];
    int nstride = -1;
    pv_tensor t = {0};
    if ((args->u.seq.n != 6 && args->u.seq.n != 7) || a[0]->kind != PV_STORAGE || !is_int(a[1]) ||
        !int_tuple(a[2], t.shape, &t.ndim) || !int_tuple(a[3], stride, &nstride) || nstride != t.ndim ||
        a[4]->kind != PV_BOOL || a[5]->kind != PV_DICT ||
        (args->u.seq.n == 7 && a[6]->kind != PV_DICT && a[6]->kind != PV_NONE))
        return fail(m, "bad arguments to torch._utils._rebuild_tensor_v2");
    const char *bad = check_layout(&t, stride);
    if (bad) return fail(m, bad);
    t.storage = a[0];
    t.offset = a[1]->u.i;
    int64_t numel = a[0]->u.storage.numel;
    if (t.offset < 0 || t.offset > numel || (t.count > 0 && (int64_t)t.count > numel - t.offset))
        return fail(m, "tensor lies outside its storage");
    hrm_status s = make(m, PV_TENSOR, out);
    if (!s && !((*out)->u.tensor = malloc(sizeof t))) s = oom(m);
    if (!s) *(*out)->u.tensor = t;
    return s;
}

static hrm_status op_reduce(vm *m) {
    pv *fn = NULL, *args = NULL, *v = NULL;
    hrm_status s = pop(m, &args);
    if (!s) s = pop(m, &fn);
    if (s) return s;
    if (fn->kind != PV_GLOBAL || fn->u.i >= G_STORAGE0) return fail(m, "REDUCE of something not callable here");
    if (args->kind != PV_TUPLE) return fail(m, "REDUCE arguments are not a tuple");
    pv **a = args->u.seq.items;
    switch (fn->u.i) {
    case G_ORDERED_DICT:
        if (args->u.seq.n) return fail(m, "OrderedDict with arguments");
        s = make(m, PV_DICT, &v);
        break;
    case G_REBUILD_TENSOR: s = rebuild_tensor(m, args, &v); break;
    default: /* G_REBUILD_PARAMETER(data, requires_grad, backward_hooks) */
        if (args->u.seq.n != 3 || a[0]->kind != PV_TENSOR || a[1]->kind != PV_BOOL || a[2]->kind != PV_DICT)
            return fail(m, "bad arguments to torch._utils._rebuild_parameter");
        v = a[0];
    }
    return s ? s : push(m, v);
}

/* BUILD sets an object's state: a state dict's _metadata (module versions), ignored. */
static hrm_status op_build(vm *m) {
    pv *state = NULL, *obj = NULL;
    hrm_status s = pop(m, &state);
    if (!s) s = top(m, &obj);
    if (!s && obj->kind != PV_DICT && obj->kind != PV_TENSOR) s = fail(m, "BUILD on an object that is not a dict");
    return s;
}

static hrm_status push_const(vm *m, pv_kind kind, int64_t value) {
    pv *v = NULL;
    hrm_status s = make(m, kind, &v);
    if (!s) v->u.i = value, s = push(m, v);
    return s;
}

/* ---- the machine ------------------------------------------------------------------------------ */

/* Runs one opcode; *done is set by STOP. */
static hrm_status step(vm *m, int *done) {
    const unsigned char *b = NULL;
    uint64_t u = 0;
    hrm_status s = need(m, 1, &b);
    if (s) return s;
    switch (*b) {
    case 0x80: /* PROTO */
        s = read_uint(m, 1, &u);
        return s ? s : u < 2 || u > 5 ? fail(m, "unsupported pickle protocol") : HRM_OK;
    case 0x95: return need(m, 8, &b); /* FRAME: a length hint only */
    case '(': return push_mark(m);
    case '.': *done = 1; return HRM_OK;
    case 'N': return push_const(m, PV_NONE, 0);
    case 0x88: return push_const(m, PV_BOOL, 1);
    case 0x89: return push_const(m, PV_BOOL, 0);
    case 'J': s = read_uint(m, 4, &u); return s ? s : push_int(m, (int32_t)(uint32_t)u);
    case 'K': s = read_uint(m, 1, &u); return s ? s : push_int(m, (int64_t)u);
    case 'M': s = read_uint(m, 2, &u); return s ? s : push_int(m, (int64_t)u);
    case 0x8a: return op_long1(m);
    case 'G': return op_binfloat(m);
    case 'X': s = read_uint(m, 4, &u); return s ? s : push_str(m, u);
    case 0x8c: s = read_uint(m, 1, &u); return s ? s : push_str(m, u);
    case 0x8d: s = read_uint(m, 8, &u); return s ? s : push_str(m, u);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case ')': return push_empty(m, PV_TUPLE);
    case ']': return push_empty(m, PV_LIST);
    case '}': return push_empty(m, PV_DICT);
    case 't': return op_tuple(m);
    case 0x85: return op_tuple_n(m, 1);
    case 0x86: return op_tuple_n(m, 2);
    case 0x87: return op_tuple_n(m, 3);
    case 's': return op_fill_n(m, 2, PV_DICT);
    case 'u': return op_fill_mark(m, PV_DICT);
    case 'a': return op_fill_n(m, 1, PV_LIST);
    case 'e': return op_fill_mark(m, PV_LIST);
    case 'q': return op_put(m, 1);
    case 'r': return op_put(m, 4);
    case 0x94: return memo_put(m, m->memo_used);
    case 'h': return op_get(m, 1);
    case 'j': return op_get(m, 4);
    case 'Q': return op_binpersid(m);
    case 'R': return op_reduce(m);
    case 'b': return op_build(m);
    default: {
        char what[64];
        snprintf(what, sizeof what, "unsupported pickle opcode 0x%02x", *b);
        return fail(m, what);
    }
    }
}

/* Runs the pickle to its STOP, which must be its last byte; *result is the one value left. */
static hrm_status run(vm *m, pv **result) {
    int done = 0;
    hrm_status s = HRM_OK;
    while (!s && !done) {
        m->op_pos = m->pos;
        s = step(m, &done);
    }
    if (s) return s;
    if (m->pos != m->len) return fail(m, "bytes after STOP");
    if (m->num_marks || m->sp != 1) return fail(m, "STOP with a stack that is not one value");
    *result = m->stack[0];
    return HRM_OK;
}

/* ---- from the pickled dict to tensors ------------------------------------------------------------ */

void hrm_torch_free(hrm_torch_file *f) {
    for (int i = 0; i < f->count; i++) {
        free(f->tensors[i].name);
        free(f->tensors[i].data);
    }
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

const hrm_torch_tensor *hrm_torch_find(const hrm_torch_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* count elements of the given storage class at src (little-endian) to float. */
static void widen(const unsigned char *src, hrm_torch_dtype dtype, size_t count, float *dst) {
    for (size_t i = 0; i < count; i++) {
        if (dtype == HRM_TORCH_F32)
            memcpy(&dst[i], src + 4 * i, 4);
        else if (dtype == HRM_TORCH_BF16)
            dst[i] = hrm_bf16_to_f32(hrm_le16(src + 2 * i));
        else
            dst[i] = hrm_f16_to_f32(hrm_le16(src + 2 * i));
    }
}

/* What a tensor of the result needs from its storage, beside hrm_torch_tensor. */
typedef struct tensor_src {
    const pv *storage;
    int64_t offset;
} tensor_src;

typedef struct reader {
    const char *path;
    hrm_zip *zip;
    char prefix[256]; /* "ARCHIVE/" */
    hrm_torch_file *out;
    tensor_src *src;
    char *err;
    size_t err_size;
} reader;

static hrm_status rfail(reader *r, const char *fmt, const char *arg) {
    return hrm_io_fail(r->err, r->err_size, HRM_ERR_INVALID_ARG, r->path, fmt, arg);
}

/* Converts the pickled dict into out->tensors (no data yet). */
static hrm_status collect(reader *r, const pv *dict) {
    if (dict->kind != PV_DICT) return rfail(r, "data.pkl holds a %s, not a state dict", kind_names[dict->kind]);
    size_t n = dict->u.seq.n / 2;
    r->out->tensors = calloc(n ? n : 1, sizeof *r->out->tensors);
    r->src = calloc(n ? n : 1, sizeof *r->src);
    if (!r->out->tensors || !r->src)
        return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const pv *k = dict->u.seq.items[2 * i], *v = dict->u.seq.items[2 * i + 1];
        if (k->kind != PV_STR) return rfail(r, "state dict key of type %s", kind_names[k->kind]);
        if (v->kind != PV_TENSOR) return rfail(r, "state dict entry '%s' is not a tensor", k->u.s);
        const pv_tensor *pt = v->u.tensor;
        const storage_class *c = &storage_classes[pt->storage->u.storage.cls];
        hrm_torch_tensor *t = &r->out->tensors[r->out->count++];
        if (!(t->name = strdup(k->u.s)))
            return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
        t->dtype = c->dtype;
        t->dtype_name = c->dtype_name;
        t->ndim = pt->ndim;
        memcpy(t->shape, pt->shape, sizeof t->shape);
        t->count = pt->count;
        r->src[i] = (tensor_src){pt->storage, pt->offset};
    }
    return HRM_OK;
}

/* A tensor index sorted by a string (its name or its storage key), for qsort. */
typedef struct sort_item {
    const char *key;
    int index;
} sort_item;

static int by_key(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Reads one storage entry and fills the tensors items[first..last) that view it. */
static hrm_status load_storage(reader *r, const sort_item *items, int first, int last) {
    const pv *st = r->src[items[first].index].storage;
    const char *key = st->u.storage.key;
    const storage_class *c = &storage_classes[st->u.storage.cls];
    char name[512];
    snprintf(name, sizeof name, "%sdata/%s", r->prefix, key);
    int e = hrm_zip_find(r->zip, name);
    if (e < 0) return rfail(r, "storage '%s' is missing from the archive", key);
    for (int i = first; i < last; i++) {
        const pv *other = r->src[items[i].index].storage;
        if (other->u.storage.cls != st->u.storage.cls || other->u.storage.numel != st->u.storage.numel)
            return rfail(r, "storage '%s' is described twice, differently", key);
    }
    size_t bytes;
    if (!hrm_mul_size((size_t)st->u.storage.numel, (size_t)c->elsize, &bytes) || bytes != hrm_zip_size(r->zip, e))
        return rfail(r, "storage '%s' does not have the size its tensors say", key);
    if (c->dtype == HRM_TORCH_OTHER) return HRM_OK; /* listed without data */
    hrm_torch_tensor *only = &r->out->tensors[items[first].index];
    if (c->dtype == HRM_TORCH_F32 && last - first == 1 && only->count == bytes / 4) {
        /* The usual case, one float32 tensor that is its whole storage: read it in place, so a
         * large embedding costs its size once. */
        if (!(only->data = malloc(bytes ? bytes : 1)))
            return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
        return hrm_zip_read(r->zip, e, only->data, r->err, r->err_size);
    }
    unsigned char *raw = malloc(bytes ? bytes : 1);
    if (!raw) return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
    hrm_status s = hrm_zip_read(r->zip, e, raw, r->err, r->err_size);
    for (int i = first; !s && i < last; i++) {
        hrm_torch_tensor *t = &r->out->tensors[items[i].index];
        if (!(t->data = malloc(t->count ? t->count * sizeof *t->data : 1)))
            s = hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
        else
            widen(raw + (size_t)r->src[items[i].index].offset * (size_t)c->elsize, c->dtype, t->count, t->data);
    }
    free(raw);
    return s;
}

/* Checks that names are unique and that the tensors are not far larger than the archive (one
 * storage viewed over and over), then loads every storage once. */
static hrm_status load_tensors(reader *r) {
    int n = r->out->count;
    sort_item *items = malloc((n ? (size_t)n : 1) * sizeof *items);
    if (!items) return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
    uint64_t total = 0, archive = 0;
    for (int i = 0; i < hrm_zip_count(r->zip); i++) archive += hrm_zip_size(r->zip, i);
    for (int i = 0; i < n; i++) {
        items[i] = (sort_item){r->out->tensors[i].name, i};
        total += r->out->tensors[i].count;
    }
    hrm_status s = HRM_OK;
    if (total > 2 * archive + 1024)
        s = rfail(r, "%s", "tensors hold far more elements than the file (repeated views?)");
    qsort(items, (size_t)n, sizeof *items, by_key);
    for (int i = 1; !s && i < n; i++)
        if (!strcmp(items[i].key, items[i - 1].key)) s = rfail(r, "state dict key '%s' appears twice", items[i].key);
    for (int i = 0; i < n; i++) items[i] = (sort_item){r->src[i].storage->u.storage.key, i};
    qsort(items, (size_t)n, sizeof *items, by_key);
    for (int first = 0, last; !s && first < n; first = last) {
        for (last = first + 1; last < n && !strcmp(items[last].key, items[first].key); last++) {
        }
        s = load_storage(r, items, first, last);
    }
    free(items);
    return s;
}

/* Finds ARCHIVE/data.pkl: the one entry named data.pkl directly under a top folder. */
static hrm_status find_archive(reader *r, int *pkl) {
    *pkl = -1;
    for (int i = 0; i < hrm_zip_count(r->zip); i++) {
        const char *name = hrm_zip_name(r->zip, i), *slash = strchr(name, '/');
        if (!slash || strcmp(slash + 1, "data.pkl") || (size_t)(slash - name) + 2 > sizeof r->prefix) continue;
        if (*pkl >= 0) return rfail(r, "%s", "two data.pkl entries in the archive");
        *pkl = i;
        memcpy(r->prefix, name, (size_t)(slash - name) + 1);
        r->prefix[slash - name + 1] = 0;
    }
    if (*pkl < 0) return rfail(r, "%s", "no ARCHIVE/data.pkl entry: not a torch.save file");
    return HRM_OK;
}

/* Reads a small text record ARCHIVE/name into buf; *found = 0 when absent. */
static hrm_status read_record(reader *r, const char *name, char *buf, size_t size, int *found) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", r->prefix, name);
    int e = hrm_zip_find(r->zip, full);
    *found = e >= 0;
    if (e < 0) return HRM_OK;
    if (hrm_zip_size(r->zip, e) >= size) return rfail(r, "record '%s' is too long", name);
    buf[hrm_zip_size(r->zip, e)] = 0;
    return hrm_zip_read(r->zip, e, buf, r->err, r->err_size);
}

static hrm_status check_records(reader *r) {
    char buf[32], *end;
    int found;
    hrm_status s = read_record(r, "version", buf, sizeof buf, &found);
    if (s) return s;
    if (!found) return rfail(r, "%s", "no ARCHIVE/version record: not a torch.save file");
    long v = strtol(buf, &end, 10);
    if (end == buf || (*end && strcmp(end, "\n")) || v < 1 || v > MAX_ARCHIVE_VERSION)
        return rfail(r, "unsupported torch archive version '%.16s'", buf);
    if ((s = read_record(r, "byteorder", buf, sizeof buf, &found))) return s;
    if (found && strcmp(buf, "little"))
        return rfail(r, "byteorder '%.16s' (only little-endian files are supported)", buf);
    return HRM_OK;
}

/* Reads data.pkl and runs it; the objects stay in *m for the caller to free. */
static hrm_status run_pickle(reader *r, int pkl, vm *m, pv **result) {
    uint64_t size = hrm_zip_size(r->zip, pkl);
    if (size > MAX_PICKLE) return rfail(r, "%s", "data.pkl is implausibly large for a state dict");
    unsigned char *bytes = malloc(size ? (size_t)size : 1);
    if (!bytes) return hrm_io_fail(r->err, r->err_size, HRM_ERR_OUT_OF_MEMORY, r->path, "out of memory");
    hrm_status s = hrm_zip_read(r->zip, pkl, bytes, r->err, r->err_size);
    if (!s) {
        m->path = r->path, m->p = bytes, m->len = (size_t)size, m->err = r->err, m->err_size = r->err_size;
        s = run(m, result);
    }
    m->p = NULL;
    free(bytes);
    return s;
}

static void free_vm(vm *m) {
    free_objects(m);
    free(m->stack);
    free(m->marks);
    free(m->memo);
}

hrm_status hrm_torch_read(const char *path, hrm_torch_file *out, char *err, size_t err_size) {
    reader r = {.path = path, .out = out, .err = err, .err_size = err_size};
    vm m = {0};
    pv *result = NULL;
    int pkl;
    memset(out, 0, sizeof *out);
    hrm_status s = hrm_zip_open(path, &r.zip, err, err_size);
    if (!s) s = find_archive(&r, &pkl);
    if (!s) s = check_records(&r);
    if (!s) s = run_pickle(&r, pkl, &m, &result);
    if (!s) s = collect(&r, result);
    if (!s) s = load_tensors(&r);
    free_vm(&m);
    free(r.src);
    hrm_zip_close(r.zip);
    if (s) hrm_torch_free(out);
    return s;
}
