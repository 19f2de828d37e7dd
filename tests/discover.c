/* tests/discover.c - plugin discovery in a forked child (discover.h). The child writes one
 * found_plugin record per usable plugin into a pipe and leaves with _exit(), so that neither the
 * drivers' exit handlers nor the parent's buffered output run twice; the parent keeps strings only. */
#include "discover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the child: load, probe, send ------------------------------------------------------------ */

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

static int send_plugin(int fd, const char *name, const char *path) {
    found_plugin p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    snprintf(p.path, sizeof p.path, "%s", path);
    return write_all(fd, &p, sizeof p);
}

/* 0 when every usable plugin was sent. */
static int send_usable(int fd, const hrm_host *host, const char *who) {
    const char *only = getenv("HRM_TEST_PLUGIN");
    if (only && only[0]) {
        hrm_plugin p;
        if (hrm_plugin_load(only, host, &p) == HRM_OK) return send_plugin(fd, p.name, only);
        fprintf(stderr, "%s: HRM_TEST_PLUGIN=%s is not usable: %s\n", who, only, p.reason);
        return 0;
    }
    hrm_plugin_list list;
    int rc = hrm_plugin_scan(host, &list) == HRM_OK ? 0 : -1;
    for (int i = 0; i < list.count && rc == 0; i++) {
        const hrm_plugin *p = &list.items[i];
        if (p->state == HRM_PLUGIN_USABLE)
            rc = send_plugin(fd, p->name, p->path);
        else
            fprintf(stderr, "%s: skipping %s: %s\n", who, p->name, p->reason);
    }
    hrm_plugin_list_free(&list);
    return rc;
}

/* ---- the parent: receive, reap ---------------------------------------------------------------- */

/* Reads up to n bytes, fewer only at end of file; -1 on error. */
static ssize_t read_full(int fd, void *data, size_t n) {
    char *p = data;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Keeps the first max records and drains the rest, so that the child never blocks on a full pipe.
 * The count, or -1 on a read error or a torn record. */
static int receive(int fd, found_plugin *out, int max) {
    found_plugin p;
    int n = 0;
    for (;;) {
        ssize_t got = read_full(fd, &p, sizeof p);
        if (got == 0) return n;
        if (got != (ssize_t)sizeof p) return -1;
        if (n < max) out[n++] = p;
    }
}

/* 1 when the child exited with status 0; else says how it ended. */
static int child_succeeded(pid_t pid, const char *who) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "%s: plugin discovery: waitpid: %s\n", who, strerror(errno));
            return 0;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: plugin discovery died of signal %d (a plugin crashed while loading or probing)\n", who,
                WTERMSIG(status));
    else
        fprintf(stderr, "%s: plugin discovery failed (exit status %d)\n", who, WEXITSTATUS(status));
    return 0;
}

/* Forks a child that runs send(fd, host, who, arg) into a pipe and _exit()s with 0 when it returned
 * 0; the read end is left in *fd. Returns the child's pid, or -1 with a line on stderr. */
typedef int (*sender)(int fd, const hrm_host *host, const char *who, const void *arg);
static pid_t start_child(sender send, const hrm_host *host, const char *who, const void *arg, int *fd) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { /* CLOEXEC: a helper a driver spawns must not hold the pipe open */
        fprintf(stderr, "%s: plugin discovery: pipe: %s\n", who, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: plugin discovery: fork: %s\n", who, strerror(errno));
        close(fds[0]), close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        _exit(send(fds[1], host, who, arg) == 0 ? 0 : 1);
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

static int send_usable_list(int fd, const hrm_host *host, const char *who, const void *arg) {
    (void)arg;
    return send_usable(fd, host, who);
}

int discover_plugins(const hrm_host *host, const char *who, found_plugin *out, int max) {
    int fd;
    pid_t pid = start_child(send_usable_list, host, who, NULL, &fd);
    if (pid < 0) return 0;
    int n = receive(fd, out, max);
    close(fd);
    if (!child_succeeded(pid, who)) return 0;
    if (n < 0) fprintf(stderr, "%s: plugin discovery: the plugin list came back damaged\n", who);
    if (n == 0) fprintf(stderr, "%s: no usable backend plugin found\n", who);
    return n > 0 ? n : 0;
}

/* ---- one needed backend ---------------------------------------------------------------------- */

typedef struct plugin_verdict {
    int state;         /* hrm_plugin_state, or -1: no plugin of that name */
    char reason[4700]; /* a path (PATH_MAX) and the plugin's reason (512) */
} plugin_verdict;

/* Sends the verdict on the plugin file $HRM_TEST_PLUGIN when set, else on the scanned plugin
 * named arg. */
static int send_verdict(int fd, const hrm_host *host, const char *who, const void *arg) {
    (void)who;
    plugin_verdict v;
    memset(&v, 0, sizeof v);
    v.state = -1;
    snprintf(v.reason, sizeof v.reason, "no plugin '%s' in the search path", (const char *)arg);
    const char *only = getenv("HRM_TEST_PLUGIN");
    if (only && only[0]) {
        hrm_plugin p;
        hrm_plugin_load(only, host, &p);
        v.state = (int)p.state;
        snprintf(v.reason, sizeof v.reason, "%s: %s", only, p.reason);
        return write_all(fd, &v, sizeof v);
    }
    hrm_plugin_list list;
    if (hrm_plugin_scan(host, &list) != HRM_OK) return -1;
    for (int i = 0; i < list.count; i++)
        if (!strcmp(list.items[i].name, (const char *)arg)) {
            v.state = (int)list.items[i].state;
            snprintf(v.reason, sizeof v.reason, "%s", list.items[i].reason);
            break;
        }
    hrm_plugin_list_free(&list);
    return write_all(fd, &v, sizeof v);
}

int discover_require(const hrm_host *host, const char *who, const char *name) {
    int fd;
    pid_t pid = start_child(send_verdict, host, who, name, &fd);
    if (pid < 0) return 1;
    plugin_verdict v;
    ssize_t got = read_full(fd, &v, sizeof v);
    close(fd);
    if (!child_succeeded(pid, who)) return 1;
    if (got != (ssize_t)sizeof v) {
        fprintf(stderr, "%s: plugin discovery: the verdict on %s came back damaged\n", who, name);
        return 1;
    }
    v.reason[sizeof v.reason - 1] = '\0';
    if (v.state == HRM_PLUGIN_USABLE) return 0;
    if (v.state == HRM_PLUGIN_DECLINED) {
        fprintf(stderr, "%s: skipped: the %s backend finds no device here: %s\n", who, name, v.reason);
        return DISCOVER_SKIP;
    }
    fprintf(stderr, "%s: the %s backend is not usable: %s\n", who, name, v.reason);
    return 1;
}
