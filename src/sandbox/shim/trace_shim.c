/*
 * Loaded (LD_PRELOAD) into the helper programs a strategy runs inside the
 * sandbox (`/bin/kill`, `sh -c "ps -p ... && kill ..."`, `pkill`), it writes
 * the moments a race window is made of to the fd in STOPBENCH_TRACE_FD:
 * each process's start and exit, and each kill() with the instant it
 * returned (the signal is queued on its target by then). It also reports
 * the moment a program looks a process up by number in /proc (`ps -p N`
 * stats /proc/N before it reads it: the probe whose answer decides whether
 * a kill follows), and every child a helper reaps that died of a signal: a `ps` or `kill` under
 * `sh -c` is reaped by the shell, not by the sandbox init, so without this
 * the oracle could not see such a process hit. psmisc's killall takes each
 * process as a /proc/N directory descriptor and signals through it
 * (pidfd_send_signal): the open is a probe of N and the signal a kill of N.
 *
 * One line per event, written with a single write(2) (atomic on a pipe):
 *   EVENT PID COMM TARGET SIGNAL RESULT MONOTONIC_NS
 * It changes nothing the helper does: kill() is the same syscall, errno is
 * preserved, and without STOPBENCH_TRACE_FD it writes nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char *program_invocation_short_name;
static int trace_fd = -1;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* `entered` > 0 adds an eighth field: when the call began. */
static void emit_at(const char *event, long target, long sig, long result, long long entered) {
    if (trace_fd < 0) return;
    long long t = now_ns();
    char line[224];
    int n = entered > 0
                ? snprintf(line, sizeof line, "%s %d %s %ld %ld %ld %lld %lld\n", event,
                           (int)getpid(), program_invocation_short_name, target, sig, result, t,
                           entered)
                : snprintf(line, sizeof line, "%s %d %s %ld %ld %ld %lld\n", event, (int)getpid(),
                           program_invocation_short_name, target, sig, result, t);
    if (n > 0 && n < (int)sizeof line) {
        int saved = errno;
        ssize_t ignored = write(trace_fd, line, n);
        (void)ignored;
        errno = saved;
    }
}

static void emit(const char *event, long target, long sig, long result) {
    emit_at(event, target, sig, result, 0);
}

__attribute__((constructor)) static void on_start(void) {
    const char *fd = getenv("STOPBENCH_TRACE_FD");
    if (fd) trace_fd = atoi(fd);
    emit("start", 0, 0, 0);
}

__attribute__((destructor)) static void on_exit_trace(void) { emit("exit", 0, 0, 0); }

int kill(pid_t pid, int sig) {
    long long entered = trace_fd < 0 ? 0 : now_ns();
    long r = syscall(SYS_kill, pid, sig);
    int saved = errno;
    emit_at("kill", pid, sig, r == 0 ? 0 : -saved, entered);
    errno = saved;
    return (int)r;
}

/* The wait family, each a plain wait4/waitid syscall (as glibc's own are),
 * reporting a reaped child that died of a signal:
 *   reap PID COMM CHILD SIGNAL 0 MONOTONIC_NS */
static void reaped(long child, int status) {
    if (child > 0 && WIFSIGNALED(status)) emit("reap", child, WTERMSIG(status), 0);
}

pid_t wait4(pid_t pid, int *wstatus, int options, struct rusage *usage) {
    int status = 0;
    long r = syscall(SYS_wait4, pid, &status, options, usage);
    int saved = errno;
    if (r > 0) {
        reaped(r, status);
        if (wstatus) *wstatus = status;
    }
    errno = saved;
    return (pid_t)r;
}

pid_t waitpid(pid_t pid, int *wstatus, int options) { return wait4(pid, wstatus, options, NULL); }

pid_t wait3(int *wstatus, int options, struct rusage *usage) {
    return wait4(-1, wstatus, options, usage);
}

pid_t wait(int *wstatus) { return wait4(-1, wstatus, 0, NULL); }

int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options) {
    long r = syscall(SYS_waitid, idtype, id, info, options, NULL);
    int saved = errno;
    if (r == 0 && info && !(options & WNOWAIT) && info->si_pid > 0 &&
        (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED))
        emit("reap", info->si_pid, info->si_status, 0);
    errno = saved;
    return (int)r;
}

/* stat() of "/proc/N", how ps looks a process up by number:
 *   probe PID COMM N 0 RESULT MONOTONIC_NS   (RESULT 0: found, else -errno) */
static long proc_number(const char *path) {
    const char *prefix = "/proc/";
    for (int i = 0; prefix[i]; i++)
        if (path[i] != prefix[i]) return -1;
    long n = 0;
    const char *p = path + 6;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) n = n * 10 + (*p - '0');
    return *p == '\0' ? n : -1;
}

int stat(const char *restrict path, struct stat *restrict buf) {
    static int (*real)(const char *restrict, struct stat *restrict);
    if (!real) real = (int (*)(const char *restrict, struct stat *restrict))dlsym(RTLD_NEXT, "stat");
    int r = real ? real(path, buf) : (errno = ENOSYS, -1);
    int saved = errno;
    long n = path ? proc_number(path) : -1;
    if (n > 0) emit("probe", n, 0, r == 0 ? 0 : -saved);
    errno = saved;
    return r;
}

/* openat(AT_FDCWD, "/proc/N", O_DIRECTORY): how psmisc's killall takes a
 * process it will signal through that descriptor (a pidfd): a probe of N. */
int openat(int dirfd, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int r = real ? real(dirfd, path, flags, mode) : (errno = ENOSYS, -1);
    int saved = errno;
    long n = (dirfd == AT_FDCWD && (flags & O_DIRECTORY) && path) ? proc_number(path) : -1;
    if (n > 0) emit("probe", n, 0, r >= 0 ? 0 : -saved);
    errno = saved;
    return r;
}

/* The process a descriptor holds: a /proc/N directory, or a pidfd (its
 * fdinfo's "Pid:" line); -1 if neither. */
static long fd_process(int fd) {
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        /* The process died of the signal and was reaped already. */
        char *deleted = strstr(target, " (deleted)");
        if (deleted) *deleted = '\0';
        long pid = proc_number(target);
        if (pid > 0) return pid;
    }
    snprintf(link, sizeof link, "/proc/self/fdinfo/%d", fd);
    FILE *info = fopen(link, "re");
    if (!info) return -1;
    char line[128];
    long pid = -1;
    while (fgets(line, sizeof line, info))
        if (sscanf(line, "Pid: %ld", &pid) == 1) break;
    fclose(info);
    return pid;
}

/* syscall(SYS_pidfd_send_signal, fd, sig, ...), how killall signals: a kill
 * of the process the descriptor holds, with when it was entered. */
long syscall(long number, ...) {
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    long long entered = number == SYS_pidfd_send_signal && trace_fd >= 0 ? now_ns() : 0;
    long r = real ? real(number, a[0], a[1], a[2], a[3], a[4], a[5]) : (errno = ENOSYS, -1);
    if (entered) {
        int saved = errno;
        long target = fd_process((int)a[0]);
        if (target > 0) emit_at("kill", target, a[1], r == 0 ? 0 : -saved, entered);
        errno = saved;
    }
    return r;
}
