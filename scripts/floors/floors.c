/* Minimal reference loops: the physical floor of each operation stopbench
 * performs, for scripts/floors to measure side by side with stopbench.
 * Run only inside a PID namespace of its own (scripts/floors does that).
 *
 *   floors vfork N          spawn + _exit + reap, N times: prints spawns/s
 *   floors wrap             vfork until the PID allocator has wrapped twice:
 *                           prints ms between the wraps (set pid_max first)
 *   floors settid N         reap a child, then clone3 with set_tid = its PID:
 *                           prints the median µs of that clone3
 *   floors victim EXE N     spawn EXE as an exit-on-term victim, wait until
 *                           ready, pidfd_send_signal(SIGTERM), poll the pidfd:
 *                           prints median signal->exit µs and trials/s
 *   floors procscan N       fork N idle children, then scan /proc as pgrep -f
 *                           does (list it, read every cmdline) three times:
 *                           prints the median scan in ms and the processes seen
 */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static int do_vfork(int n) {
    double t0 = now();
    for (int i = 0; i < n; i++) {
        pid_t p = vfork();
        if (p == 0) _exit(0);
        waitpid(p, 0, 0);
    }
    printf("%.0f\n", n / (now() - t0));
    return 0;
}

/* The allocator wraps when a new PID is lower than the last: the time
 * between the first two wraps is how long a number takes to come back. */
static int do_wrap(void) {
    pid_t last = 0;
    double first_wrap = 0;
    for (long i = 0; i < 10000000; i++) {
        pid_t p = vfork();
        if (p == 0) _exit(0);
        waitpid(p, 0, 0);
        if (last && p < last) {
            if (first_wrap == 0) first_wrap = now();
            else { printf("%.3f\n", (now() - first_wrap) * 1000); return 0; }
        }
        last = p;
    }
    return 1;
}

static int do_settid(int n) {
    double *v = calloc(n, sizeof *v);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        waitpid(p, 0, 0);
        pid_t tid[1] = { p };
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.exit_signal = SIGCHLD;
        args.set_tid = (uint64_t)(uintptr_t)tid;
        args.set_tid_size = 1;
        double t0 = now();
        long c = syscall(SYS_clone3, &args, sizeof args);
        if (c == 0) _exit(0);
        v[i] = (now() - t0) * 1e6;
        if (c < 0) { perror("clone3"); return 1; }
        waitpid(c, 0, 0);
    }
    printf("%.1f\n", median(v, n));
    return 0;
}

static int do_victim(const char *exe, int n) {
    double *v = calloc(n, sizeof *v);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        int ready[2];
        if (pipe(ready)) return 1;
        pid_t p = fork();
        if (p == 0) {
            dup2(ready[1], 3);
            char *argv[] = { "/usr/bin/foo_daemon", NULL };
            char *envp[] = { "STOPBENCH_ROLE=victim", "STOPBENCH_BEHAVIOUR=exit-on-term", NULL };
            execve(exe, argv, envp);
            _exit(127);
        }
        close(ready[1]);
        int fd = syscall(SYS_pidfd_open, p, 0);
        char b;
        if (read(ready[0], &b, 1) != 1) { fprintf(stderr, "victim not ready\n"); return 1; }
        close(ready[0]);
        double s = now();
        syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        poll(&pfd, 1, -1);
        v[i] = (now() - s) * 1e6;
        waitpid(p, 0, 0);
        close(fd);
    }
    double rate = n / (now() - t0);
    printf("%.1f %.1f\n", median(v, n), rate);
    return 0;
}

/* One scan: every numeric entry of /proc, its cmdline read once. */
static int scan_once(void) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    char path[64], buf[4096];
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "%s/cmdline", e->d_name);
        int fd = openat(dirfd(d), path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t ignored = read(fd, buf, sizeof buf);
        (void)ignored;
        close(fd);
        seen++;
    }
    closedir(d);
    return seen;
}

static int do_procscan(int n) {
    if (n < 0 || n > 100000) return 2;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            for (;;) pause();
        }
        if (p < 0) { perror("fork"); return 1; }
    }
    double v[3];
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        double t0 = now();
        seen = scan_once();
        v[i] = (now() - t0) * 1000;
    }
    /* PID 1 exits: the kernel ends its namespace's children. */
    printf("%.3f %d\n", median(v, 3), seen);
    return 0;
}

int main(int argc, char **argv) {
    if (getpid() != 1) {
        fprintf(stderr, "floors: run me as PID 1 of a PID namespace of my own (scripts/floors does)\n");
        return 2;
    }
    if (argc >= 3 && !strcmp(argv[1], "vfork")) return do_vfork(atoi(argv[2]));
    if (argc >= 2 && !strcmp(argv[1], "wrap")) return do_wrap();
    if (argc >= 3 && !strcmp(argv[1], "settid")) return do_settid(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "victim")) return do_victim(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "procscan")) return do_procscan(atoi(argv[2]));
    fprintf(stderr, "usage: floors vfork N | wrap | settid N | victim EXE N | procscan N\n");
    return 2;
}
