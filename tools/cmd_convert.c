/* tools/cmd_convert.c - `hrm convert IN.pt OUT.safetensors [key=value ...] [--data DIR]`: a
 * published PyTorch HRM checkpoint (torch.save of the model's state dict) to our safetensors
 * checkpoint. The reading is core/torch_ckpt.c, the mapping and checks core/convert.c; this file
 * parses the command line and takes seq_len (and checks vocab_size, num_puzzle_identifiers)
 * from the dataset the model was trained on. */
#include "cli.h"
#include "commands.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hrm_internal.h"

#define MAX_SETTINGS 64

static void usage(FILE *out, const char *prog) {
    fprintf(out,
            "usage: %s IN.pt OUT.safetensors [key=value ...] [--data DIR]\n\n"
            "Converts a published PyTorch HRM or TRM checkpoint (torch.save(model.state_dict()) of pretrain.py,\n"
            "`_orig_mod.` prefixes of torch.compile included; float32, bfloat16 or float16 tensors) to\n"
            "this engine's checkpoint: safetensors, float32, the published names, the architecture in\n"
            "the hrm.config metadata. OUT is written atomically.\n\n"
            "The tensors' shapes give hidden_size, vocab_size, H_layers, L_layers, puzzle_emb_ndim,\n"
            "num_puzzle_identifiers, learned or rope positions and the SwiGLU width (expansion). The rest\n"
            "takes the published defaults unless given as key=value with the published names, with or\n"
            "without 'arch.': arch.num_heads=8 arch.H_cycles=2 arch.L_cycles=2 arch.halt_max_steps=16\n"
            "arch.halt_exploration_prob=0.1 arch.rope_theta=10000 arch.rms_norm_eps=1e-5 arch.expansion=4.\n"
            "seq_len comes from --data DIR (DIR/train/dataset.json, also checked against vocab_size and\n"
            "num_puzzle_identifiers) or seq_len=N; models with learned positions carry it.\n\n"
            "A checkpoint without H_level tensors is a TRM (SamsungSAILMontreal/TinyRecursiveModels,\n"
            "arch=trm): its L_level blocks give L_layers and the form (attention, or mlp_t: the MLP form,\n"
            "whose token SwiGLU also gives seq_len + puzzle_emb_len); the rest takes trm.yaml's defaults\n"
            "(arch.H_cycles=3 arch.L_cycles=6 arch.puzzle_emb_len=16 arch.no_ACT_continue=true; the MLP\n"
            "form pos_encodings=none) unless given. An EMA run's checkpoint holds the EMA weights.\n\n"
            "options:\n"
            "  --data DIR         the dataset the model was trained on\n"
            "  --help             show this help\n",
            prog);
}

/* Reads seq_len, vocab_size and num_puzzle_identifiers of DIR/train/dataset.json as settings. */
static int dataset_settings(const char *prog, const char *dir, char text[3][64], const char **settings, int *n) {
    static const char *const keys[3] = {"seq_len", "vocab_size", "num_puzzle_identifiers"};
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/train/dataset.json", dir);
    json_t *o = json_load_file(path, 0, &jerr);
    if (!json_is_object(o)) {
        cli_error(prog, "%s: %s", path, o ? "not a JSON object" : jerr.text);
        json_decref(o);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!json_is_integer(v)) {
            cli_error(prog, "%s: %s is missing or not an integer", path, keys[i]);
            json_decref(o);
            return 0;
        }
        snprintf(text[i], sizeof text[i], "%s=%lld", keys[i], (long long)json_integer_value(v));
        settings[(*n)++] = text[i];
    }
    json_decref(o);
    return 1;
}

typedef struct convert_args {
    const char *in, *out, *data;
    const char *settings[MAX_SETTINGS + 3];
    int num_settings;
} convert_args;

/* Returns CLI_PARSED, CLI_HELP or CLI_BAD (after one line). */
static int parse_args(const char *prog, int argc, char **argv, convert_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return CLI_HELP;
        if (!strncmp(arg, "--data=", 7)) {
            a->data = arg + 7;
        } else if (!strcmp(arg, "--data")) {
            if (i + 1 == argc) return cli_error(prog, "option --data needs a value (DIR)"), CLI_BAD;
            a->data = argv[++i];
        } else if (arg[0] == '-') {
            return cli_error(prog, "unknown option '%s' (try '%s --help')", arg, prog), CLI_BAD;
        } else if (strchr(arg, '=')) {
            if (a->num_settings == MAX_SETTINGS) return cli_error(prog, "too many key=value settings"), CLI_BAD;
            a->settings[a->num_settings++] = arg;
        } else if (!a->in || !a->out) {
            *(a->in ? &a->out : &a->in) = arg;
        } else {
            return cli_error(prog, "unexpected argument '%s' (try '%s --help')", arg, prog), CLI_BAD;
        }
    }
    if (!a->out) return cli_error(prog, "needs IN.pt and OUT.safetensors (try '%s --help')", prog), CLI_BAD;
    return CLI_PARSED;
}

static void print_summary(const convert_args *a, const hrm_config *c, const hrm_convert_summary *s) {
    printf("%s -> %s: %d tensors, %lld parameters (%lld values with the puzzle embedding and H/L init); ", a->in,
           a->out, s->tensors, (long long)s->parameters, (long long)s->values);
    if (c->arch == HRM_ARCH_TRM)
        printf("TRM%s, hidden %d, heads %d, layers %d, T %d, n %d, prefix %d", c->mlp_t ? " (MLP form)" : "",
               c->hidden_size, c->num_heads, c->L_layers, c->H_cycles, c->L_cycles, hrm_config_prefix(c));
    else
        printf("hidden %d, heads %d, layers H %d L %d, cycles H %d L %d", c->hidden_size, c->num_heads, c->H_layers,
               c->L_layers, c->H_cycles, c->L_cycles);
    printf(", vocab %d, seq_len %d, %s positions", c->vocab_size, c->seq_len, hrm_pos_name(c->pos_encodings));
    if (s->from_bf16 || s->from_f16) printf("; widened to float32: %d bfloat16, %d float16", s->from_bf16, s->from_f16);
    if (s->skipped) printf("; %d non-parameter buffers left out", s->skipped);
    printf("\n");
}

int cmd_convert(const char *prog, int argc, char **argv) {
    convert_args a = {0};
    char data_text[3][64];
    int r = parse_args(prog, argc, argv, &a);
    if (r == CLI_HELP) {
        usage(stdout, prog);
        return CLI_EXIT_OK;
    }
    if (r == CLI_BAD) return CLI_EXIT_USAGE;
    /* The dataset's values come first, so that a key=value repeating one with another value is
     * reported as given twice. */
    if (a.data) {
        memmove(a.settings + 3, a.settings, (size_t)a.num_settings * sizeof a.settings[0]);
        int n = 0;
        if (!dataset_settings(prog, a.data, data_text, a.settings, &n)) return CLI_EXIT_FAIL;
        a.num_settings += n;
    }

    /* OUT must not be IN (the atomic write would replace the checkpoint being read): the same
     * name, or another name of the same file (a link, a path through other folders) */
    struct stat si, so;
    if (!strcmp(a.in, a.out) ||
        (stat(a.in, &si) == 0 && stat(a.out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)) {
        cli_error(prog, "%s: the output is the input checkpoint; give another OUT", a.out);
        return CLI_EXIT_USAGE;
    }
    hrm_torch_file f;
    hrm_config c;
    hrm_convert_summary summary;
    char err[1024];
    hrm_status s = hrm_torch_read(a.in, &f, err, sizeof err);
    if (s) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    s = hrm_convert_config(&f, a.in, a.settings, a.num_settings, &c, err, sizeof err);
    if (!s) s = hrm_convert_write(&f, a.in, &c, a.out, &summary, err, sizeof err);
    hrm_torch_free(&f);
    if (s) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    print_summary(&a, &c, &summary);
    return CLI_EXIT_OK;
}
