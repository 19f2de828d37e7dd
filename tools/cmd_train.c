/* tools/cmd_train.c - `hrm train key=value ...`: trains an HRM as the published pretrain.py does,
 * with its override names (docs/ARCHITECTURE.md "Command-line contracts"), checkpoints and resume (core/checkpoint.h).
 *
 * Settings come from, in order of precedence: the command line; when checkpoint_path holds a
 * checkpoint (resume), its hrm.config (the architecture, which a resumed run cannot change) and
 * hrm.train (the training settings that were in force); when init_checkpoint is given, its
 * hrm.config; the published defaults.
 *
 * The loop: one segment and one optimizer step per batch (hrm_act_train_step) until total_steps =
 * int(epochs * total_groups * mean_puzzle_examples / global_batch_size) or max_steps. The batches
 * come from the sampler's iterations of eval_interval epochs (epochs without it), pretrain.py's
 * train_epochs_per_iter (core/sampler.h): an endless stream that the step count ends (pretrain.py
 * stops after epochs / eval_interval iterations, which can be up to that many steps short of
 * total_steps; here those steps come from the next iteration). Evaluation of the test split
 * every int(eval_interval * total_groups * mean_puzzle_examples / global_batch_size) steps and at
 * the end (where every puzzle has one example, as in Sudoku and Maze, that is exactly one
 * iteration's batches, so evaluations fall at the iterations' ends as published), each followed by
 * a checkpoint step_K.safetensors + step_K.state (with checkpoint_every_eval=false, only the last
 * one).
 *
 * Interrupts (pretrain.py has none; this is our contract): the first SIGINT or SIGTERM lets the
 * step in progress run to its end (a step is never cut: its batch is drawn and applied whole), stops
 * the loop and saves the last completed step K, unless the loop saved it already; step_K.* are then
 * byte for byte those of the same command with max_steps=K, and resume like any checkpoint. The
 * exit status is 128 + the signal number: 130 for SIGINT, 143 for SIGTERM (what schedulers expect
 * of a process ended by SIGTERM), with one line on stderr. A signal before any step of this
 * invocation completed saves nothing. A further signal while a checkpoint is being written, or
 * after the loop stopped, is held until both files are in place (the save is never left half done;
 * the exit status stays the first signal's); a further signal at any other moment (the rest of the
 * step, an evaluation) ends the process at once with 128 + its number and one line, without saving
 * the step in progress. Either way the run folder's earlier
 * checkpoints are untouched, and each file is written as FILE.tmp and renamed (core/io_util.h), the
 * state before the weights, so that a process killed outright (SIGKILL) never leaves a weights
 * file without its state nor a partial file under a checkpoint's name.
 *
 * Test hook: HRM_TEST_PAUSE_MS=N sleeps N ms in each step between drawing the batch and applying
 * it, and in each save between the state file and the weights file, so that
 * tests/cli/test-interrupt.sh can signal at those moments; a signal does not shorten the pause.
 * HRM_TEST_RANK_WEIGHTS=1: with several processes, every process other than rank 0 also writes
 * its own weights as step_K.rankR.safetensors beside rank 0's step_K.safetensors, so that
 * tests/cli/test-mpi.sh can check that every replica holds the same weights. Nothing else reads
 * them. */
#include "cli.h"
#include "commands.h"
#include "procs.h"

#include "hrm/hrm.h"
#include "hrm_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the keys: core/config_keys.h's table ----------------------------------------------------- */

static const hrm_key *key_of(const char *name) {
    const hrm_key *k = hrm_key_find(name);
    if (!k) abort(); /* a name this file spells wrong */
    return k;
}

/* A key `hrm train` takes on its command line: every one but the dataset's. */
static bool is_cli_key(const hrm_key *k) { return k && k->store != HRM_STORE_DATA; }

/* Reads key=value arguments. Returns CLI_PARSED, CLI_HELP or CLI_BAD (after one line). */
static int read_args(const char *prog, int argc, char **argv, hrm_key_values *a) {
    char err[1024];
    if (hrm_key_values_init(a, err, sizeof err)) return cli_error(prog, "%s", err), CLI_BAD;
    for (int n = 1; n < argc; n++) {
        const char *arg = argv[n];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return CLI_HELP;
        if (arg[0] == '+') arg++; /* hydra's "+key=value" */
        const char *eq = strchr(arg, '=');
        if (!eq) return cli_error(prog, "expected key=value, got '%s' (try '%s --help')", argv[n], prog), CLI_BAD;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        const hrm_key *k = hrm_key_find(key);
        if (!is_cli_key(k)) return cli_error(prog, "unknown key '%s' (try '%s --help')", key, prog), CLI_BAD;
        if (a->given[hrm_key_index(k)]) return cli_error(prog, "%s: given twice", key), CLI_BAD;
        if (hrm_key_values_give(a, k, eq + 1, err, sizeof err)) return cli_error(prog, "%s", err), CLI_BAD;
    }
    /* data_paths=[DIR] (TRM's pretrain.py, a list) is data_path=DIR */
    int paths = hrm_key_index(key_of("data_paths")), path = hrm_key_index(key_of("data_path"));
    if (a->given[paths]) {
        const char *t = a->text[paths];
        size_t n = strlen(t);
        if (n < 2 || t[0] != '[' || t[n - 1] != ']')
            return cli_error(prog, "data_paths=%s: expected a list, [DIR]", t), CLI_BAD;
        char *one = strndup(t + 1, n - 2), *start = one, *end;
        if (!one) return cli_error(prog, "out of memory"), CLI_BAD;
        while (*start == ' ' || *start == '\'' || *start == '"') start++;
        end = start + strlen(start);
        while (end > start && (end[-1] == ' ' || end[-1] == '\'' || end[-1] == '"')) *--end = 0;
        if (strchr(start, ',') || !*start) {
            free(one);
            return cli_error(prog, "data_paths=%s: one folder only (merging datasets is not supported; build one)", t),
                   CLI_BAD;
        }
        if (a->given[path]) {
            free(one);
            return cli_error(prog, "data_paths and data_path both given"), CLI_BAD;
        }
        memmove(one, start, strlen(start) + 1);
        a->owned[path] = one; /* freed with the values */
        if (hrm_key_values_give(a, key_of("data_path"), one, err, sizeof err))
            return cli_error(prog, "%s", err), CLI_BAD;
    }
    /* arch.name names the model class: it sets arch, and may not contradict it */
    int name = hrm_key_index(key_of("arch.name")), arch = hrm_key_index(key_of("arch"));
    if (a->given[name] && a->given[arch] && a->num[name] != a->num[arch])
        return cli_error(prog, "arch.name=%s disagrees with arch=%s", a->text[name], a->text[arch]), CLI_BAD;
    if (a->given[name] && !a->given[arch] &&
        hrm_key_values_give(a, key_of("arch"), hrm_arch_name((hrm_arch)a->num[name]), err, sizeof err))
        return cli_error(prog, "%s", err), CLI_BAD;
    return CLI_PARSED;
}

static void usage(FILE *out, const char *prog) {
    fprintf(out,
            "usage: %s key=value ...\n\n"
            "Trains a Hierarchical Reasoning Model (or with arch=trm a Tiny Recursive Model) with the\n"
            "published pretrain.py overrides. Checkpoints go\n"
            "to checkpoint_path/step_K.safetensors (weights, hrm.config, hrm.train) and step_K.state\n"
            "(optimizer, ACT carry, sampler, RNG); metrics to checkpoint_path/metrics.jsonl. If\n"
            "checkpoint_path already holds a checkpoint, training resumes from the latest one and continues\n"
            "exactly as an uninterrupted run.\n\n"
            "SIGINT / SIGTERM: the step in progress runs to its end, step K (the last completed step) is saved\n"
            "exactly as max_steps=K would save it, and the exit status is 130 / 143. A further signal during\n"
            "that save is held until the save ends; one before it stops at once without saving (exit 128 + its\n"
            "number).\n\n"
            "keys (default):\n",
            prog);
    int n;
    const hrm_key *keys = hrm_keys(&n);
    for (int i = 0; i < n; i++) {
        if (!is_cli_key(&keys[i])) continue;
        char left[64];
        snprintf(left, sizeof left, "%s (%s)", keys[i].name, keys[i].def ? keys[i].def : "-");
        fprintf(out, "  %-40s %s\n", left, keys[i].help);
    }
    fprintf(out, "\nThe arch.* keys are the published model settings; a resumed run keeps its architecture.\n");
}

/* ---- settings from a checkpoint ----------------------------------------------------------- */

static bool is_arch(const hrm_key *k) { return k->store == HRM_STORE_SHAPE || k->store == HRM_STORE_ARCH; }

/* The architecture: defaults + overrides, or the checkpoint's where `base` is given. A given key
 * that `fixed` forbids to change (resume: every arch key; init_checkpoint: the shape keys) and
 * differs is an error naming the key and the file. */
static int build_config(const char *prog, const hrm_key_values *a, const hrm_config *base, const char *base_path,
                        bool all_fixed, hrm_config *cfg) {
    int n;
    const hrm_key *keys = hrm_keys(&n);
    /* arch=trm brings trm.yaml's defaults, under the keys given on top */
    *cfg = base ? *base : hrm_config_default_arch((hrm_arch)a->num[hrm_key_index(key_of("arch"))]);
    for (int i = 0; i < n; i++) {
        const hrm_key *k = &keys[i];
        if (!is_arch(k) || !a->given[i]) continue;
        bool fixed = base && (all_fixed || k->store == HRM_STORE_SHAPE);
        if (fixed && hrm_key_get(k, cfg) != a->num[i]) {
            cli_error(prog, "%s=%s disagrees with %s (%s %g)%s", k->name, a->text[i], base_path, hrm_key_config_name(k),
                      hrm_key_get(k, cfg), all_fixed ? ": a resumed run keeps its architecture" : "");
            return 0;
        }
        hrm_key_set(k, cfg, a->num[i]);
    }
    /* the published default puzzle_emb_ndim is hidden_size, whatever hidden_size was given */
    if (!base && !a->given[hrm_key_index(key_of("arch.puzzle_emb_ndim"))]) cfg->puzzle_emb_ndim = cfg->hidden_size;
    /* the reproducible mode (docs/MODEL.md "Training data order"): no shuffling and no halting exploration; a resumed run
     * keeps what its first part used */
    if (!all_fixed && a->num[hrm_key_index(key_of("data_shuffle"))] == 0 &&
        !a->given[hrm_key_index(key_of("arch.halt_exploration_prob"))])
        cfg->halt_exploration_prob = 0;
    return 1;
}

/* Takes every training setting not given on the command line from hrm.train. */
static int restore_saved(const char *prog, hrm_key_values *a, const char *json, const char *path) {
    char err[1024];
    if (hrm_train_json_restore(a, json, err, sizeof err)) return cli_error(prog, "%s: %s", path, err), 0;
    return 1;
}

/* ---- the run folder ------------------------------------------------------------------------ */

static int mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return 0;
        *p = '/';
    }
    return !mkdir(buf, 0777) || errno == EEXIST;
}

/* The largest K with DIR/step_K.safetensors, or -1. */
static int64_t latest_step(const char *dir) {
    DIR *d = opendir(dir);
    int64_t best = -1;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        long long k;
        int end = 0;
        if (sscanf(e->d_name, "step_%lld.safetensors%n", &k, &end) == 1 && end > 0 && !e->d_name[end] && k > best)
            best = k;
    }
    closedir(d);
    return best;
}

static void ckpt_paths(const char *dir, int64_t step, char *weights, char *state, size_t size) {
    snprintf(weights, size, "%s/step_%lld.safetensors", dir, (long long)step);
    snprintf(state, size, "%s/step_%lld.state", dir, (long long)step);
}

/* ---- the run -------------------------------------------------------------------------------- */

/* The interrupt contract of the header comment. stop_signal: the first signal, which the loop
 * reads between steps; holding: a checkpoint is being written, or the loop has stopped and only the
 * save and the exit remain; held_signal: a further signal that came then. Anything else the
 * handler does must be async-signal-safe: write and _exit. */
static volatile sig_atomic_t stop_signal, holding, held_signal;
static char second_signal_line[4400]; /* prog and the run folder (<= 4096) */

static void on_signal(int sig) {
    if (!stop_signal) {
        stop_signal = sig;
    } else if (holding) {
        held_signal = sig;
    } else {
        (void)!write(2, second_signal_line, strlen(second_signal_line));
        _exit(128 + sig);
    }
}

static void catch_signals(const char *prog, const char *dir) {
    snprintf(second_signal_line, sizeof second_signal_line,
             "%s: second signal: stopped at once without saving the step in progress; %s keeps its last "
             "checkpoint\n",
             prog, dir);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT); /* one handler at a time: the second sees the first's stop_signal */
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The test hook HRM_TEST_PAUSE_MS (header comment). */
static void test_pause(void) {
    static long ms = -1;
    if (ms < 0) {
        const char *t = getenv("HRM_TEST_PAUSE_MS");
        ms = t && atol(t) > 0 ? atol(t) : 0;
    }
    struct timespec left = {ms / 1000, ms % 1000 * 1000000L};
    while (ms && nanosleep(&left, &left) && errno == EINTR) {
    }
}

typedef struct run {
    const char *prog;  /* for lines: names the process when there are several */
    const char *prog0; /* without the rank: what every process finds alike, which rank 0 says */
    procs *pr;         /* the job's processes: rank 0 alone writes files and progress (procs.h) */
    int B;             /* this process's slots: global_batch_size / processes */
    hrm_key_values args;
    char dir[4096];
    hrm_config cfg;
    hrm_train_settings ts;
    hrm_dataset train, test;
    hrm_ctx ctx;
    bool ctx_open;
    bool setup_ran; /* setup_device was called: a failure is the model's or the state's, not the backend's */
    hrm_model *model;
    hrm_act *act, *eval;
    hrm_sampler sampler;
    hrm_batch batch;
    int32_t *inputs, *labels;
    float *params;
    FILE *metrics;
    int64_t stop, eval_every;
    double groups_examples; /* total_groups * mean_puzzle_examples */
} run;

static double num(const run *r, const char *key) { return r->args.num[hrm_key_index(key_of(key))]; }
static const char *text(const run *r, const char *key) { return r->args.text[hrm_key_index(key_of(key))]; }

/* checkpoint_path, or checkpoints/PROJECT/RUN as pretrain.py names it. */
static void run_dir(run *r) {
    if (text(r, "checkpoint_path")) {
        snprintf(r->dir, sizeof r->dir, "%s", text(r, "checkpoint_path"));
        return;
    }
    const char *data = text(r, "data_path"), *base = strrchr(data, '/');
    char project[256];
    base = base && base[1] ? base + 1 : data;
    if (text(r, "project_name"))
        snprintf(project, sizeof project, "%s", text(r, "project_name"));
    else
        snprintf(project, sizeof project, "%c%s ACT-torch", (char)toupper((unsigned char)base[0]), base + 1);
    /* the default run name is the model class's, as pretrain.py's begins */
    const char *name = text(r, "run_name");
    if (!r->args.given[hrm_key_index(key_of("run_name"))] && r->cfg.arch == HRM_ARCH_TRM)
        name = "TinyRecursiveReasoningModel_ACTV1";
    snprintf(r->dir, sizeof r->dir, "checkpoints/%s/%s", project, name);
}

static int load_data(run *r) {
    char err[1024], a[4200], b[4200];
    const char *dir = text(r, "data_path");
    if (hrm_dataset_load(dir, "train", &r->train, err, sizeof err) ||
        hrm_dataset_load(dir, "test", &r->test, err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    const hrm_dataset_meta *m = &r->train.meta, *t = &r->test.meta;
    if (m->vocab_size != t->vocab_size || m->seq_len != t->seq_len ||
        m->num_puzzle_identifiers != t->num_puzzle_identifiers) {
        snprintf(a, sizeof a, "%s/train/dataset.json", dir);
        snprintf(b, sizeof b, "%s/test/dataset.json", dir);
        return cli_error(r->prog, "%s and %s disagree on vocab_size, seq_len or num_puzzle_identifiers", a, b), 0;
    }
    return 1;
}

enum { SETTLE_FAILED = -1, SETTLE_USAGE = -2 };

/* Settles the architecture and the settings; reads the starting weights into r->params (NULL: a
 * fresh initialisation). Returns the step of the checkpoint resumed from, 0 for none, or
 * SETTLE_FAILED / SETTLE_USAGE after one line. */
static int64_t settle(run *r, char *resume_state, size_t size) {
    hrm_key_values *a = &r->args;
    hrm_checkpoint ck;
    char err[1024], weights[4200];
    int64_t latest = -1;
    if (!text(r, "data_path") && !text(r, "checkpoint_path"))
        return cli_error(r->prog, "data_path is required (data_path=DIR)"), SETTLE_USAGE;
    if (text(r, "checkpoint_path")) {
        run_dir(r);
        latest = latest_step(r->dir);
    }
    const char *from = latest >= 0 ? weights : text(r, "init_checkpoint");
    if (latest >= 0) ckpt_paths(r->dir, latest, weights, resume_state, size);
    if (from) {
        if (hrm_checkpoint_read(from, &ck, err, sizeof err)) return cli_error(r->prog, "%s", err), -1;
        int ok = build_config(r->prog, a, &ck.cfg, from, latest >= 0, &r->cfg) &&
                 (latest < 0 || restore_saved(r->prog, a, ck.train_json, from));
        r->params = ck.params;
        ck.params = NULL;
        hrm_checkpoint_free(&ck);
        if (!ok) return SETTLE_USAGE;
    } else if (!build_config(r->prog, a, NULL, NULL, false, &r->cfg)) {
        return SETTLE_USAGE;
    }
    if (!text(r, "data_path")) return cli_error(r->prog, "data_path is required (data_path=DIR)"), SETTLE_USAGE;
    if (!text(r, "checkpoint_path")) run_dir(r);
    if (!load_data(r)) return -1;
    if (from) {
        if (hrm_checkpoint_check_dataset(&r->cfg, from, &r->train.meta, text(r, "data_path"), "train", err, sizeof err))
            return cli_error(r->prog, "%s", err), -1;
    } else {
        r->cfg.vocab_size = r->train.meta.vocab_size;
        r->cfg.seq_len = r->train.meta.seq_len;
        r->cfg.num_puzzle_identifiers = r->train.meta.num_puzzle_identifiers;
    }
    if (hrm_config_validate(&r->cfg, err, sizeof err)) return cli_error(r->prog, "arch: %s", err), SETTLE_USAGE;
    return latest > 0 ? latest : 0;
}

static int fail_status(run *r, const char *what, const char *why) {
    if (what)
        cli_error(r->prog, "%s: %s", what, why);
    else
        cli_error(r->prog, "%s", why); /* why names its part already */
    return 0;
}

/* hrm_ctx_setup_fn: the model, its weights and the training and evaluation state (the optimizer's
 * among them) on a context just opened; under auto a device too small for them gives way to the
 * next backend. Its lines name their part, as fail_status does. */
static hrm_status setup_device(hrm_ctx *ctx, void *user, char *err, size_t err_size) {
    run *r = user;
    int B = r->B;
    r->setup_ran = true;
    hrm_status st = hrm_model_create(ctx, &r->cfg, B, &r->model, err, err_size);
    if (!st) {
        const hrm_param_table *t = hrm_model_params_table(r->model);
        st = r->params ? hrm_model_set_params(r->model, r->params, t->total)
                       : hrm_model_init_params(r->model, r->ts.seed);
        if (st) snprintf(err, err_size, "parameters: %s", hrm_model_error(r->model));
    }
    if (!st) hrm_model_set_matmul_precision(r->model, (hrm_matmul_precision)num(r, "matmul_precision"));
    char why[1024];
    if (!st && ((st = hrm_act_create(ctx, r->model, B, &r->ts, true, &r->act, why, sizeof why)) ||
                (st = hrm_act_create(ctx, r->model, B, &r->ts, false, &r->eval, why, sizeof why))))
        snprintf(err, err_size, "state: %s", why);
    /* several processes: each holds its share of the global batch's slots */
    const hrm_dist *d = r->pr->size > 1 ? &r->pr->dist : NULL;
    for (int i = 0; !st && i < 2; i++) {
        hrm_act *a = i ? r->eval : r->act;
        if ((st = hrm_act_set_dist(a, d))) snprintf(err, err_size, "state: %s", hrm_act_error(a));
    }
    if (st) {
        hrm_act_free(r->act);
        hrm_act_free(r->eval);
        hrm_model_free(r->model);
        r->act = r->eval = NULL;
        r->model = NULL;
    }
    return st;
}

/* Backend, model, optimizer state, sampler; the weights from r->params or a fresh init. */
static int build(run *r, int64_t resume_step, const char *resume_state) {
    char err[1024];
    const char *backend = text(r, "backend");
    r->ts = hrm_key_values_settings(&r->args);
    r->groups_examples = r->train.meta.total_groups * r->train.meta.mean_puzzle_examples;
    r->ts.total_steps = (int64_t)(num(r, "epochs") * r->groups_examples / r->ts.global_batch_size);
    if (r->ts.total_steps < 1)
        return cli_error(r->prog, "epochs: %s epochs of %g examples give 0 steps of global_batch_size %d",
                         text(r, "epochs"), r->groups_examples, r->ts.global_batch_size),
               0;
    int64_t max_steps = (int64_t)num(r, "max_steps");
    r->stop = max_steps > 0 && max_steps < r->ts.total_steps ? max_steps : r->ts.total_steps;
    double interval = text(r, "eval_interval") ? num(r, "eval_interval") : num(r, "epochs");
    r->eval_every = (int64_t)(interval * r->groups_examples / r->ts.global_batch_size);
    if (r->eval_every < 1) r->eval_every = 1;

    int G = r->ts.global_batch_size, N = r->pr->size;
    if (G % N) { /* every process finds it: rank 0 says it */
        if (r->pr->rank == 0)
            cli_error(r->prog0, "global_batch_size %d does not split over %d processes: give a multiple of %d", G, N,
                      N);
        return 0;
    }
    r->B = G / N;
    /* several processes: by default each node's process k on its device k (round the devices) */
    char device[32];
    const char *dev = text(r, "device");
    if (!dev && N > 1) snprintf(device, sizeof device, "@%d", r->pr->local_rank), dev = device;
    r->setup_ran = false;
    if (hrm_ctx_open_with(backend, dev, hrm_default_host(), setup_device, r, &r->ctx, err, sizeof err))
        return fail_status(r, r->setup_ran ? NULL : "backend", err);
    r->ctx_open = true;
    int B = G; /* the sampler and the host batch hold the global batch; each process trains its slice */
    const hrm_param_table *t = hrm_model_params_table(r->model);
    if (!r->params && !(r->params = malloc((size_t)t->total * sizeof(float))))
        return fail_status(r, "parameters", "out of host memory");
    /* pretrain.py's train_epochs_per_iter: the sampler's iterations are eval_interval epochs */
    if (hrm_sampler_init(&r->sampler, &r->train, B, num(r, "data_shuffle") != 0, (uint64_t)interval, r->ts.seed, err,
                         sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    if (resume_step > 0 && hrm_train_state_load(resume_state, r->act, &r->sampler, err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    if (hrm_batch_alloc(&r->batch, B) || !(r->inputs = malloc((size_t)B * r->cfg.seq_len * sizeof(int32_t))) ||
        !(r->labels = malloc((size_t)B * r->cfg.seq_len * sizeof(int32_t))))
        return fail_status(r, "batch", "out of host memory");
    return 1;
}

static void teardown(run *r) {
    if (r->metrics) fclose(r->metrics);
    free(r->inputs);
    free(r->labels);
    hrm_batch_free(&r->batch);
    hrm_sampler_free(&r->sampler);
    hrm_act_free(r->act);
    hrm_act_free(r->eval);
    hrm_model_free(r->model);
    if (r->ctx_open) hrm_ctx_close(&r->ctx);
    free(r->params);
    hrm_dataset_free(&r->train);
    hrm_dataset_free(&r->test);
    hrm_key_values_free(&r->args);
}

/* step_K.state, then step_K.safetensors: a weights file always has its state beside it. */
static int save(run *r) {
    char err[1024], weights[4200], state[4200];
    int64_t step = r->act->step;
    const hrm_param_table *t = hrm_model_params_table(r->model);
    ckpt_paths(r->dir, step, weights, state, sizeof weights);
    if (hrm_model_get_params(r->model, r->params, t->total))
        return fail_status(r, "checkpoint", hrm_model_error(r->model));
    /* with ema, the weights file holds the EMA, as pretrain.py saves it; the state the trained weights */
    if (r->ts.ema && hrm_act_get_ema(r->act, r->params)) return fail_status(r, "checkpoint", hrm_act_error(r->act));
    char *json = hrm_train_json(&r->args, step, r->ts.total_steps);
    sig_atomic_t was_holding = holding;
    holding = 1;
    hrm_status st = json ? hrm_train_state_save(state, r->act, &r->sampler, err, sizeof err) : HRM_ERR_OUT_OF_MEMORY;
    if (!st) test_pause();
    if (!st && r->pr->rank == 0) st = hrm_checkpoint_write(weights, &r->cfg, t, r->params, json, err, sizeof err);
    if (!st && r->pr->rank != 0 && getenv("HRM_TEST_RANK_WEIGHTS")) { /* the test hook (header comment) */
        snprintf(weights, sizeof weights, "%s/step_%lld.rank%d.safetensors", r->dir, (long long)step, r->pr->rank);
        st = hrm_checkpoint_write(weights, &r->cfg, t, r->params, json, err, sizeof err);
    }
    holding = was_holding;
    free(json);
    if (st) return cli_error(r->prog, "%s", json ? err : "out of host memory"), 0;
    return 1;
}

static void put_metrics(run *r, json_t *o) {
    if (!r->metrics) { /* a process other than rank 0 */
        json_decref(o);
        return;
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (line) fprintf(r->metrics, "%s\n", line), fflush(r->metrics);
    free(line);
    json_decref(o);
}

static int evaluate(run *r) {
    char err[1024];
    hrm_eval_report e;
    /* pretrain.py evaluates a copy of the model with the EMA weights */
    if (r->ts.ema && hrm_act_ema_swap(r->act)) return fail_status(r, "evaluation", hrm_act_error(r->act));
    hrm_status st = hrm_evaluate(r->eval, &r->test, 0, NULL, NULL, &e, err, sizeof err);
    if (r->ts.ema && hrm_act_ema_swap(r->act)) return fail_status(r, "evaluation", hrm_act_error(r->act));
    if (st) return fail_status(r, "evaluation", err);
    if (r->pr->rank != 0) return 1;
    double epoch = (double)r->act->step * r->ts.global_batch_size / r->groups_examples;
    put_metrics(r, json_pack("{s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)r->act->step,
                             "epoch", epoch, "eval/count", (json_int_t)e.count, "eval/accuracy", e.accuracy,
                             "eval/exact_accuracy", e.exact_accuracy, "eval/q_halt_accuracy", e.q_halt_accuracy,
                             "eval/steps", e.steps, "eval/lm_loss", e.lm_loss, "eval/q_halt_loss", e.q_halt_loss,
                             "eval/loss", e.loss));
    fprintf(stderr, "%s%s: step %lld eval: exact_accuracy %.4f accuracy %.4f steps %.2f lm_loss %.4f (%lld examples)\n",
            isatty(2) ? "\r\033[K" : "", r->prog, (long long)r->act->step, e.exact_accuracy, e.accuracy, e.steps,
            e.lm_loss, (long long)e.examples);
    return 1;
}

/* Metric sums of the steps since the last progress line. */
typedef struct window {
    hrm_act_metrics m;
    int steps;
} window;

static void log_step(run *r, const hrm_act_metrics *m, double step_s, const hrm_dist_times *dt) {
    double n = (double)(m->count > 0 ? m->count : 1), g = r->ts.global_batch_size;
    json_t *o =
        json_pack("{s:I, s:f, s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)r->act->step,
                  "lr", r->act->last_lr, "puzzle_emb_lr", r->act->last_puzzle_emb_lr, "samples_per_s", g / step_s,
                  "train/count", (json_int_t)m->count, "train/accuracy", m->accuracy / n, "train/exact_accuracy",
                  m->exact_accuracy / n, "train/q_halt_accuracy", m->q_halt_accuracy / n, "train/steps", m->steps / n,
                  "train/loss", m->loss / g, "train/lm_loss", m->lm_loss / g, "train/q_halt_loss", m->q_halt_loss / g,
                  "train/q_continue_loss", m->q_continue_loss / g);
    /* several processes: where rank 0's step went (the others' are alike) */
    json_t *t = o && r->pr->size > 1 ? json_pack("{s:i, s:f, s:f, s:f, s:f}", "processes", r->pr->size, "time/step_s",
                                                 step_s, "time/compute_s", step_s - dt->transfer - dt->allreduce,
                                                 "time/transfer_s", dt->transfer, "time/allreduce_s", dt->allreduce)
                                     : NULL;
    if (t) json_object_update(o, t), json_decref(t);
    put_metrics(r, o);
}

/* Several processes: the step's metric sums over all of them. */
static int sum_metrics(run *r, hrm_act_metrics *m) {
    double x[9] = {(double)m->count, m->accuracy, m->exact_accuracy, m->q_halt_accuracy, m->steps,
                   m->loss,          m->lm_loss,  m->q_halt_loss,    m->q_continue_loss};
    if (procs_sum(r->pr, x, 9)) return 0;
    *m = (hrm_act_metrics){(int64_t)x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8]};
    return 1;
}

static void progress(run *r, window *w, int64_t done, double elapsed, bool tty) {
    double n = (double)(w->m.count > 0 ? w->m.count : 1), rate = done * r->ts.global_batch_size / elapsed;
    double eta = (double)(r->stop - r->act->step) * elapsed / (double)done;
    fprintf(stderr, "%sstep %lld/%lld  loss %.4f  exact %.3f  %.1f samples/s  ETA %d:%02d:%02d%s",
            tty ? "\r\033[K" : "", (long long)r->act->step, (long long)r->stop,
            w->m.loss / (r->ts.global_batch_size * (double)w->steps), w->m.exact_accuracy / n, rate, (int)(eta / 3600),
            (int)fmod(eta / 60, 60), (int)fmod(eta, 60), tty ? "" : "\n");
    memset(w, 0, sizeof *w);
}

static void add_metrics(hrm_act_metrics *s, const hrm_act_metrics *m) {
    s->count += m->count;
    s->accuracy += m->accuracy;
    s->exact_accuracy += m->exact_accuracy;
    s->q_halt_accuracy += m->q_halt_accuracy;
    s->steps += m->steps;
    s->loss += m->loss;
    s->lm_loss += m->lm_loss;
    s->q_halt_loss += m->q_halt_loss;
    s->q_continue_loss += m->q_continue_loss;
}

/* Whether the loop checkpoints after `step`: at each evaluation (checkpoint_every_eval) or the
 * last step only. */
static bool saves_at(const run *r, int64_t step) {
    return step == r->stop || (num(r, "checkpoint_every_eval") != 0 && step % r->eval_every == 0);
}

/* Whether to stop before the next step: this process's signal, or with several processes any
 * process's (the first signal's number becomes everyone's stop_signal). */
static bool agree_stop(run *r) {
    if (r->pr->size <= 1) return stop_signal != 0;
    int sig = procs_max_int(r->pr, (int)stop_signal);
    if (sig && !stop_signal) stop_signal = sig;
    return sig != 0;
}

/* Returns the exit code. */
static int loop(run *r) {
    char err[1024];
    bool tty = isatty(2);
    int64_t start = r->act->step, log_every = (int64_t)num(r, "log_interval");
    double t0 = cli_now(), last_print = 0;
    window w = {0};
    /* several processes stop together: a signal to any of them is everyone's, at the same step */
    while (r->act->step < r->stop && !agree_stop(r)) {
        double ts = cli_now();
        hrm_act_metrics m;
        hrm_dist_times before = r->act->times;
        if (hrm_sampler_next(&r->sampler, &r->batch, err, sizeof err)) return cli_error(r->prog, "%s", err), 1;
        hrm_batch_gather(&r->train, &r->batch, HRM_IGNORE_LABEL, r->inputs, r->labels);
        test_pause();
        /* every process draws the global batch and trains its slots' share of it */
        size_t o = (size_t)r->act->offset, L = (size_t)r->cfg.seq_len;
        hrm_act_batch ab = {r->inputs + o * L, r->labels + o * L, r->batch.identifier + o};
        if (hrm_act_train_step(r->act, &ab, &m)) return cli_error(r->prog, "training: %s", hrm_act_error(r->act)), 1;
        if (!sum_metrics(r, &m)) return 1;
        hrm_dist_times dt = {r->act->times.transfer - before.transfer, r->act->times.allreduce - before.allreduce};
        log_step(r, &m, cli_now() - ts, &dt);
        add_metrics(&w.m, &m);
        w.steps++;
        int64_t step = r->act->step;
        double now = cli_now();
        bool last = step == r->stop;
        if (r->pr->rank == 0 &&
            (tty ? (now - last_print > 0.1 || last) : (step % log_every == 0 || last || step == start + 1))) {
            progress(r, &w, step - start, now - t0, tty);
            last_print = now;
        }
        if (step % r->eval_every == 0 || last) {
            if (!evaluate(r) || (saves_at(r, step) && !save(r))) return 1;
        }
    }
    holding = 1; /* only the save and the exit remain */
    if (tty && stop_signal && r->pr->rank == 0)
        fputc('\n', stderr); /* else an evaluation line ended the progress line */
    if (!stop_signal || r->act->step >= r->stop) return 0;
    long long k = (long long)r->act->step;
    if (r->act->step == start) {
        if (r->pr->rank == 0) /* every process stops alike: one line */
            cli_error(r->prog, "stopped by signal %d before step %lld completed: nothing new to save%s",
                      (int)stop_signal, k + 1, start ? "; run the same command to resume" : "");
        return 128 + stop_signal;
    }
    if (!saves_at(r, r->act->step) && !save(r)) return 1;
    if (r->pr->rank != 0) return 128 + stop_signal;
    char held[96] = "";
    if (held_signal)
        snprintf(held, sizeof held, " (signal %d came during the save: held until it ended)", (int)held_signal);
    cli_error(r->prog,
              "stopped by signal %d at step %lld: saved %s/step_%lld.safetensors%s; run the same command to resume",
              (int)stop_signal, k, r->dir, k, held);
    return 128 + stop_signal;
}

static void header(run *r, int64_t resume_step) {
    hrm_device_info info = {0};
    r->ctx.f->device_info(r->ctx.be, r->ctx.device_index, &info);
    long long count = (long long)hrm_params_count(hrm_model_params_table(r->model));
    if (r->cfg.arch == HRM_ARCH_TRM)
        printf("hrm train: %lld parameters (TRM%s: hidden %d, heads %d, %d layers, T %d cycles of n %d, "
               "%d prefix rows, halt_max_steps %d)\n",
               count, r->cfg.mlp_t ? ", MLP form" : "", r->cfg.hidden_size, r->cfg.num_heads, r->cfg.L_layers,
               r->cfg.H_cycles, r->cfg.L_cycles, hrm_config_prefix(&r->cfg), r->cfg.halt_max_steps);
    else
        printf("hrm train: %lld parameters (hidden %d, heads %d, H %dx%d, L %dx%d, halt_max_steps %d)\n", count,
               r->cfg.hidden_size, r->cfg.num_heads, r->cfg.H_layers, r->cfg.H_cycles, r->cfg.L_layers, r->cfg.L_cycles,
               r->cfg.halt_max_steps);
    uint64_t used = 0, peak = 0;
    if (r->ctx.f->memory_usage(r->ctx.dev, &used, &peak) != HRM_OK) used = 0;
    printf("backend %s, device %d: %s; %.1f MiB on the device", r->ctx.plugin.name, r->ctx.device_index, info.name,
           used / 1048576.0);
    int pieces = hrm_model_activation_buffers(r->model);
    if (pieces > 1)
        printf(" (activations in %d buffers: its largest buffer is %.1f MiB)", pieces,
               hrm_ctx_max_buffer_bytes(&r->ctx) / 1048576.0);
    putchar('\n');
    cli_print_precision(stdout, "matmul precision", (hrm_matmul_precision)num(r, "matmul_precision"),
                        hrm_model_matmul_precision(r->model), &r->ctx);
    printf("data %s: %d train / %d test examples; global_batch_size %d, total_steps %lld, stopping at %lld, "
           "evaluating every %lld steps\n",
           text(r, "data_path"), r->train.num_examples, r->test.num_examples, r->ts.global_batch_size,
           (long long)r->ts.total_steps, (long long)r->stop, (long long)r->eval_every);
    if (r->pr->size > 1)
        printf("%d processes (MPI), %d slots each; this line from rank 0 on its device\n", r->pr->size, r->B);
    if (resume_step > 0) printf("resuming from %s/step_%lld.safetensors\n", r->dir, (long long)resume_step);
    printf("checkpoints and metrics.jsonl in %s\n", r->dir);
    fflush(stdout);
}

int cmd_train(const char *prog, int argc, char **argv) {
    procs pr;
    if (procs_init(prog, &pr)) return CLI_EXIT_FAIL;
    run r = {.prog = prog, .prog0 = prog, .pr = &pr};
    char resume_state[4200], path[4200];
    /* what every process would say alike (options, settings, the dataset) comes from rank 0 only */
    procs_quiet(&pr, true);
    int parsed = read_args(prog, argc, argv, &r.args);
    if (parsed != CLI_PARSED) {
        if (parsed == CLI_HELP && pr.rank == 0) usage(stdout, prog);
        hrm_key_values_free(&r.args);
        procs_finalize(&pr);
        return parsed == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    int64_t resume_step = settle(&r, resume_state, sizeof resume_state);
    procs_quiet(&pr, false);
    r.prog = pr.prog; /* from here on a line names its process */
    int rc = CLI_EXIT_FAIL;
    if (resume_step >= 0 && build(&r, resume_step, resume_state)) {
        snprintf(path, sizeof path, "%s/metrics.jsonl", r.dir);
        if (pr.rank == 0 && (!mkdirs(r.dir) || !(r.metrics = fopen(path, "a")))) {
            cli_error(r.prog, "%s: cannot create: %s", path, strerror(errno));
        } else if (r.act->step >= r.stop) {
            if (pr.rank == 0) header(&r, resume_step);
            if (pr.rank == 0)
                printf("nothing to do: the checkpoint is at step %lld of %lld\n", (long long)r.act->step,
                       (long long)r.stop);
            rc = CLI_EXIT_OK;
        } else {
            if (pr.rank == 0) header(&r, resume_step);
            catch_signals(r.prog, r.dir);
            rc = loop(&r);
        }
    } else if (resume_step == SETTLE_USAGE) {
        rc = CLI_EXIT_USAGE;
    }
    teardown(&r);
    /* a failure of one process ends them all (MPI_Abort); a signal's stop is everyone's */
    if (rc != CLI_EXIT_OK && rc < 128) procs_fail(&pr, rc);
    procs_finalize(&pr);
    return rc;
}
