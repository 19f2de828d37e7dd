/* tools/cmd_eval.c - `hrm eval --checkpoint F --data DIR [--segments M] [--dump OUTDIR]`
 * (docs/ARCHITECTURE.md "Evaluation output"): evaluates DIR/test with the weights and architecture of F and prints the
 * metrics as one JSON object on stdout (core/evaluate.h says how they are normalised). With
 * --dump, OUTDIR receives logits.npy (float32 [N, seq_len, V], after the last segment),
 * q_halt.npy and q_continue.npy (float32 [M, N]) and predictions.npy (uint8 [N, seq_len]); padding
 * slots are left out, so N is the number of test examples. logits.npy and predictions.npy are
 * streamed to OUTDIR batch by batch (each as FILE.tmp, renamed when complete), so --dump needs no
 * more memory than the Q values.
 *
 * Under mpirun or srun (tools/procs.h), N processes share the batches (batch j on process
 * j mod N, each on its own device by default) and rank 0 alone prints the report and writes the
 * dump, in file order: the output is that of one process with the same --batch. */
#include "cli.h"
#include "commands.h"
#include "procs.h"

#include "hrm/hrm.h"
#include "hrm_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    O_CHECKPOINT,
    O_DATA,
    O_SEGMENTS,
    O_DUMP,
    O_BACKEND,
    O_DEVICE,
    O_BATCH,
    O_TASK,
    O_PRECISION,
    O_SAMPLES,
    O_NOISE,
    O_SEED,
    NOPTS
};

static const cli_opt opts[NOPTS] = {
    [O_CHECKPOINT] = {"--checkpoint", "F", "weights (safetensors with hrm.config), e.g. RUN/step_K.safetensors"},
    [O_DATA] = {"--data", "DIR", "dataset folder; its test split is evaluated"},
    [O_SEGMENTS] = {"--segments", "M", "segments per example (default: the model's halt_max_steps)"},
    [O_DUMP] = {"--dump", "OUTDIR", "write logits, q_halt, q_continue and predictions as .npy"},
    [O_BACKEND] = {"--backend", "B", "cpu | opencl | auto | PATH.so (default $HRM_BACKEND or auto)"},
    [O_DEVICE] = {"--device", "D", "device index, or a part of its name or platform name (default 0)"},
    [O_BATCH] = {"--batch", "N", "examples per batch (default 256)"},
    [O_PRECISION] = {"--matmul-precision", "P",
                     "highest (fp32, default), high (tf32) or medium (bf16) operands of the\n"
                     "matrix products; a device without that unit runs the next higher one"},
    [O_TASK] = {"--task", "NAME",
                "task plugin whose verifier scores the predictions (default: the one matching "
                "seq_len and vocab; 'none' to skip)"},
    [O_SAMPLES] = {"--samples", "K",
                   "sampled inference: each batch K times, the first plain, the others with\n"
                   "                     noise on the recurrent state; per example the run whose answer the\n"
                   "                     task's verifier accepts (without the label), then the most confident\n"
                   "                     halt head (default 1)"},
    [O_NOISE] = {"--noise", "SIGMA", "standard deviation of that noise (default 0: --samples changes nothing)"},
    [O_SEED] = {"--seed", "N", "seed of the noise (default 0)"},
};

typedef struct eval_run {
    const char *prog;
    procs *pr; /* rank 0 alone prints and writes */
    hrm_checkpoint ck;
    hrm_dataset ds;
    hrm_ctx ctx;
    bool ctx_open;
    hrm_model *model;
    hrm_act *act;
    int batch;                            /* the model's and the ACT state's */
    hrm_train_settings ts;                /* the ACT state's: only the loss type matters */
    hrm_matmul_precision precision, runs; /* asked and run */
    hrm_eval_dump dump;
    hrm_npy_writer logits, predictions; /* the streamed dump files */
    char logits_path[4200], predictions_path[4200];
    int64_t rows_written;
    /* the task's verdicts (task.h): verify() per example, and its own evaluation if it has one */
    const hrm_task_iface *task;
    hrm_task_eval *task_eval;
    int64_t verified, checked;
    uint8_t *row_in, *row_label; /* [seq_len] scratch */
    hrm_task_metric metrics[16];
    int num_metrics;
    hrm_eval_sampling sampling;
    uint8_t *accept_in; /* [seq_len] scratch of accept_answer */
} eval_run;

/* hrm_eval_sampling.accept: the task's verifier without the label (the label would give the
 * answer away; a task that needs it accepts nothing, and the halt head chooses). */
static bool accept_answer(void *user, int64_t example, const uint8_t *prediction) {
    eval_run *r = user;
    bool ok = false;
    for (int k = 0; k < r->ds.meta.seq_len; k++) r->accept_in[k] = (uint8_t)hrm_dataset_input(&r->ds, example, k);
    return r->task->verify(r->accept_in, prediction, NULL, &ok, NULL, 0) == HRM_OK && ok;
}

/* hrm_eval_dump.rows: appends a batch's real rows to logits.npy and predictions.npy. */
static hrm_status put_rows(void *user, int64_t first, int valid, const float *logits, const uint8_t *predictions,
                           char *err, size_t err_size) {
    eval_run *r = user;
    size_t L = (size_t)r->ds.meta.seq_len, V = (size_t)r->ds.meta.vocab_size;
    if (first != r->rows_written) /* evaluate.h: batches come in file order */
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, r->logits_path, "rows out of order");
    TRY(hrm_npy_writer_append(&r->logits, logits, (size_t)valid * L * V * sizeof(float), err, err_size));
    TRY(hrm_npy_writer_append(&r->predictions, predictions, (size_t)valid * L, err, err_size));
    r->rows_written += valid;
    return HRM_OK;
}

/* Creates OUTDIR, starts logits.npy and predictions.npy (as .tmp) and allocates the Q values. */
static int open_dump(eval_run *r, const char *dir, int M) {
    char err[1024];
    int64_t N = r->ds.num_examples, L = r->ds.meta.seq_len, V = r->ds.meta.vocab_size;
    int64_t s_logits[3] = {N, L, V}, s_pred[2] = {N, L};
    r->dump.rows = put_rows;
    r->dump.user = r;
    if (r->pr->rank != 0) return 1; /* the others hand their rows to rank 0 (core/evaluate.c) */
    if (mkdir(dir, 0777) && errno != EEXIST)
        return cli_error(r->prog, "%s: cannot create: %s", dir, strerror(errno)), 0;
    r->dump.q_halt = malloc((size_t)M * (size_t)N * sizeof(float));
    r->dump.q_continue = malloc((size_t)M * (size_t)N * sizeof(float));
    if (!r->dump.q_halt || !r->dump.q_continue) return cli_error(r->prog, "out of host memory for --dump"), 0;
    snprintf(r->logits_path, sizeof r->logits_path, "%s/logits.npy", dir);
    snprintf(r->predictions_path, sizeof r->predictions_path, "%s/predictions.npy", dir);
    if (hrm_npy_writer_open(&r->logits, r->logits_path, HRM_NPY_F32, 3, s_logits, err, sizeof err) ||
        hrm_npy_writer_open(&r->predictions, r->predictions_path, HRM_NPY_U8, 2, s_pred, err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    return 1;
}

/* After the evaluation: completes the streamed files and writes the Q values. */
static int finish_dump(eval_run *r, const char *dir, int M) {
    char err[1024], path[4200];
    int64_t s_q[2] = {M, r->ds.num_examples};
    const char *names[2] = {"q_halt.npy", "q_continue.npy"};
    const float *data[2] = {r->dump.q_halt, r->dump.q_continue};
    if (hrm_npy_writer_commit(&r->logits, err, sizeof err) || hrm_npy_writer_commit(&r->predictions, err, sizeof err))
        return cli_error(r->prog, "%s", err), 0;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (hrm_npy_write(path, HRM_NPY_F32, 2, s_q, data[i], err, sizeof err)) return cli_error(r->prog, "%s", err), 0;
    }
    return 1;
}

/* hrm_eval_dump.predictions: the task's verifier on each example, and its evaluation hooks. */
static hrm_status put_predictions(void *user, int64_t first, int valid, const uint8_t *pred, const float *q_halt,
                                  char *err, size_t err_size) {
    eval_run *r = user;
    int L = r->ds.meta.seq_len;
    for (int b = 0; b < valid; b++) {
        int row = (int)first + b;
        bool ok = false;
        char reason[256];
        for (int k = 0; k < L; k++) {
            r->row_in[k] = (uint8_t)hrm_dataset_input(&r->ds, row, k);
            r->row_label[k] = (uint8_t)hrm_dataset_label(&r->ds, row, k);
        }
        const uint8_t *p = pred + (size_t)b * (size_t)L;
        if (r->task->verify(r->row_in, p, r->row_label, &ok, reason, sizeof reason) == HRM_OK) {
            r->checked++;
            r->verified += ok;
        }
        int32_t id = r->ds.puzzle_identifiers[hrm_dataset_puzzle_of(&r->ds, row)];
        if (r->task_eval && r->task->eval_add(r->task_eval, id, r->row_in, r->row_label, p, q_halt[b]))
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, "task", "%s: evaluation of example %d failed",
                               r->task->name, row);
    }
    return HRM_OK;
}

/* The task whose verifier scores the predictions: --task, or the one matching the dataset's
 * seq_len and vocab (none is not an error then: the report says "task": null). */
static int open_task(eval_run *r, const char *name) {
    char err[1024];
    if (name && !strcmp(name, "none")) return 1;
    hrm_status s = name ? hrm_task_find(name, &r->task, err, sizeof err)
                        : hrm_task_match(r->ds.meta.seq_len, r->ds.meta.vocab_size, &r->task, err, sizeof err);
    if (s) {
        r->task = NULL;
        return name ? (cli_error(r->prog, "%s", err), 0) : 1;
    }
    if (r->task->format.seq_len != r->ds.meta.seq_len)
        return cli_error(r->prog, "task %s has seq_len %d, the dataset %d", r->task->name, r->task->format.seq_len,
                         r->ds.meta.seq_len),
               0;
    r->row_in = malloc((size_t)r->ds.meta.seq_len);
    r->row_label = malloc((size_t)r->ds.meta.seq_len);
    if (!r->row_in || !r->row_label) return cli_error(r->prog, "out of memory"), 0;
    if (r->task->eval_begin && r->task->eval_begin((const char *const *)r->ds.identifiers, r->ds.num_identifiers,
                                                   &r->task_eval, err, sizeof err))
        return cli_error(r->prog, "%s: %s", r->task->name, err), 0;
    r->dump.predictions = put_predictions;
    r->dump.user = r;
    return 1;
}

static int close_task(eval_run *r) {
    char err[1024] = "";
    if (!r->task_eval) return 1;
    hrm_status s = r->task->eval_end(r->task_eval, r->metrics, 16, &r->num_metrics, err, sizeof err);
    r->task_eval = NULL;
    if (s) return cli_error(r->prog, "%s: %s", r->task->name, err[0] ? err : "evaluation failed"), 0;
    return 1;
}

static void add_task_fields(const eval_run *r, json_t *o) {
    json_object_set_new(o, "task", r->task ? json_string(r->task->name) : json_null());
    if (!r->task) return;
    json_object_set_new(o, "verified", json_real(r->checked ? (double)r->verified / (double)r->checked : 0.0));
    json_object_set_new(o, "verified_count", json_integer(r->verified));
    for (int i = 0; i < r->num_metrics; i++) json_object_set_new(o, r->metrics[i].name, json_real(r->metrics[i].value));
}

static void print_report(const eval_run *r, const hrm_eval_report *e, const char *ckpt, const char *data) {
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "checkpoint", ckpt, "data", data,
                  "segments", e->segments, "examples", (json_int_t)e->examples, "count", (json_int_t)e->count,
                  "accuracy", e->accuracy, "exact_accuracy", e->exact_accuracy, "q_halt_accuracy", e->q_halt_accuracy,
                  "steps", e->steps, "lm_loss", e->lm_loss, "q_halt_loss", e->q_halt_loss, "loss", e->loss);
    if (o) json_object_set_new(o, "matmul_precision", json_string(hrm_precision_name(r->runs)));
    if (o) json_object_set_new(o, "samples", json_integer(r->sampling.noise > 0 ? r->sampling.samples : 1));
    if (o) json_object_set_new(o, "noise", json_real(r->sampling.noise));
    if (o) add_task_fields(r, o);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    if (text) printf("%s\n", text);
    free(text);
    json_decref(o);
}

/* hrm_ctx_setup_fn: the model, its weights and the ACT state on a context just opened; under auto
 * a device too small for them gives way to the next backend. */
static hrm_status setup_device(hrm_ctx *ctx, void *user, char *err, size_t err_size) {
    eval_run *r = user;
    hrm_status st = hrm_model_create(ctx, &r->ck.cfg, r->batch, &r->model, err, err_size);
    if (!st && (st = hrm_model_set_params(r->model, r->ck.params, r->ck.table.total)))
        snprintf(err, err_size, "%s", hrm_model_error(r->model));
    if (!st) r->runs = hrm_model_set_matmul_precision(r->model, r->precision);
    if (!st) st = hrm_act_create(ctx, r->model, r->batch, &r->ts, false, &r->act, err, err_size);
    if (!st && r->pr->size > 1 && (st = hrm_act_set_dist(r->act, &r->pr->dist)))
        snprintf(err, err_size, "%s", hrm_act_error(r->act));
    if (st) {
        hrm_act_free(r->act);
        hrm_model_free(r->model);
        r->act = NULL;
        r->model = NULL;
    }
    return st;
}

static int run_eval(eval_run *r, const char **v) {
    char err[1024];
    int M = 0, batch = 256;
    if (!cli_sampling(r->prog, v[O_SAMPLES], v[O_NOISE], v[O_SEED], &r->sampling.samples, &r->sampling.noise,
                      &r->sampling.seed) ||
        (v[O_SEGMENTS] && !cli_int(r->prog, "--segments", v[O_SEGMENTS], 1, 1 << 16, &M)) ||
        (v[O_BATCH] && !cli_int(r->prog, "--batch", v[O_BATCH], 1, 1 << 20, &batch)) ||
        !cli_precision(r->prog, "--matmul-precision", v[O_PRECISION], &r->precision))
        return CLI_EXIT_USAGE;
    if (!v[O_CHECKPOINT] || !v[O_DATA])
        return cli_error(r->prog, "%s is required (try '%s --help')", v[O_CHECKPOINT] ? "--data" : "--checkpoint",
                         r->prog),
               CLI_EXIT_USAGE;
    if (hrm_checkpoint_read(v[O_CHECKPOINT], &r->ck, err, sizeof err) ||
        hrm_dataset_load(v[O_DATA], "test", &r->ds, err, sizeof err) ||
        hrm_checkpoint_check_dataset(&r->ck.cfg, v[O_CHECKPOINT], &r->ds.meta, v[O_DATA], "test", err, sizeof err))
        return cli_error(r->prog, "%s", err), CLI_EXIT_FAIL;
    if (M <= 0) M = r->ck.cfg.halt_max_steps;
    if (batch > r->ds.num_examples) batch = r->ds.num_examples > 0 ? r->ds.num_examples : 1;
    r->batch = batch;
    /* the settings the checkpoint was trained with (hrm.train; the defaults without one): the loss
     * type is the one that matters here */
    if (hrm_train_json_settings(r->ck.train_json, &r->ts, err, sizeof err))
        return cli_error(r->prog, "%s: %s", v[O_CHECKPOINT], err), CLI_EXIT_FAIL;
    /* from here on what fails may be this process's alone: its lines name it */
    procs_quiet(r->pr, false);
    r->prog = r->pr->prog;
    char device[32];
    const char *dev = v[O_DEVICE];
    if (!dev && r->pr->size > 1) snprintf(device, sizeof device, "@%d", r->pr->local_rank), dev = device;
    hrm_status st = hrm_ctx_open_with(v[O_BACKEND], dev, hrm_default_host(), setup_device, r, &r->ctx, err, sizeof err);
    r->ctx_open = st == HRM_OK;
    if (st) return cli_error(r->prog, "%s", err), CLI_EXIT_FAIL;
    if (r->pr->rank == 0 && (r->runs != HRM_PRECISION_HIGHEST || r->precision != r->runs))
        cli_print_precision(stderr, "hrm eval: matmul precision", r->precision, r->runs, &r->ctx);
    if (v[O_DUMP] && !open_dump(r, v[O_DUMP], M)) return CLI_EXIT_FAIL;
    if (!open_task(r, v[O_TASK])) return CLI_EXIT_FAIL;
    hrm_eval_report e;
    bool dump = v[O_DUMP] || r->task;
    if (r->task && !(r->accept_in = malloc((size_t)r->ds.meta.seq_len))) return cli_error(r->prog, "out of memory"), 1;
    r->sampling.accept = r->task ? accept_answer : NULL;
    r->sampling.user = r;
    if (!st) st = hrm_evaluate(r->act, &r->ds, M, &r->sampling, dump ? &r->dump : NULL, &e, err, sizeof err);
    if (st) return cli_error(r->prog, "%s", err), CLI_EXIT_FAIL;
    if (r->pr->rank != 0) return CLI_EXIT_OK; /* rank 0 has every batch's results */
    if (v[O_DUMP] && !finish_dump(r, v[O_DUMP], M)) return CLI_EXIT_FAIL;
    if (!close_task(r)) return CLI_EXIT_FAIL;
    print_report(r, &e, v[O_CHECKPOINT], v[O_DATA]);
    return CLI_EXIT_OK;
}

int cmd_eval(const char *prog, int argc, char **argv) {
    const char *v[NOPTS];
    procs pr;
    if (procs_init(prog, &pr)) return CLI_EXIT_FAIL;
    /* what every process would say alike (options, the files) comes from rank 0 only */
    procs_quiet(&pr, true);
    int parsed = cli_parse(prog, opts, NOPTS, argc, argv, v);
    if (parsed != CLI_PARSED) procs_finalize(&pr);
    switch (parsed) {
    case CLI_HELP:
        if (pr.rank == 0)
            cli_usage(stdout, prog, "--checkpoint F --data DIR [OPTIONS]",
                      "Evaluates DIR/test with checkpoint F over M segments per example and prints the metrics as\n"
                      "JSON (count = examples with a valid label; the rest divided by count).",
                      opts, NOPTS);
        return CLI_EXIT_OK;
    case CLI_BAD: return CLI_EXIT_USAGE;
    }
    eval_run r = {.prog = prog, .pr = &pr};
    int rc = run_eval(&r, v);
    procs_quiet(&pr, false);
    hrm_npy_writer_abort(&r.logits); /* a dump left incomplete: drop its .tmp files */
    hrm_npy_writer_abort(&r.predictions);
    free(r.dump.q_halt);
    free(r.dump.q_continue);
    char ignored[256];
    if (r.task_eval) r.task->eval_end(r.task_eval, r.metrics, 16, &r.num_metrics, ignored, sizeof ignored);
    free(r.row_in);
    free(r.row_label);
    free(r.accept_in);
    hrm_act_free(r.act);
    hrm_model_free(r.model);
    if (r.ctx_open) hrm_ctx_close(&r.ctx);
    hrm_dataset_free(&r.ds);
    hrm_checkpoint_free(&r.ck);
    if (rc != CLI_EXIT_OK) procs_fail(&pr, rc); /* one process's failure ends them all */
    procs_finalize(&pr);
    return rc;
}
