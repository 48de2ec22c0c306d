// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

#define _GNU_SOURCE 1
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "CSeccomp.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

int cseccomp_install(const struct sock_filter *filter, unsigned short count, unsigned int flags) {
    struct sock_fprog program;
    program.len = count;
    // The kernel only reads the program; sock_fprog merely lacks a const qualifier.
    program.filter = (struct sock_filter *)filter;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
}

int cseccomp_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

int cseccomp_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }

int cseccomp_get_mode(void) { return prctl(PR_GET_SECCOMP, 0, 0, 0, 0); }

int cseccomp_errno(void) { return errno; }

// MARK: probe

// Shared between the parent and the probe child (MAP_SHARED). After the filter is in
// place the child may be refused every system call, so it reports by plain stores here
// and then parks in a loop until the parent kills it.
struct probe_shared {
    _Atomic int stage;
    _Atomic int go;        // the installing thread lets the other thread make its call
    _Atomic int helper_tid;
    long return_value;
    int error_number;
    int trap_syscall;
    int trap_data;
    unsigned int trap_arch;
    int install_result;
    int install_errno;
};

struct probe_context {
    const struct cseccomp_probe_request *request;
    struct probe_shared *shared;
};

// Per thread, so concurrent probes from different parent threads never share it: the
// child's first thread inherits the forking thread's copy, the helper sets its own.
static __thread struct probe_shared *probe_page;

static void probe_park(void) {
    for (;;) {
        __asm__ volatile("" ::: "memory");
    }
}

static void probe_sigsys(int signo, siginfo_t *info, void *context) {
    (void)signo;
    (void)context;
    struct probe_shared *shared = probe_page;
    if (shared != NULL && info->si_code == SYS_SECCOMP) {
        shared->trap_syscall = info->si_syscall;
        shared->trap_data = info->si_errno;
        shared->trap_arch = info->si_arch;
        atomic_store(&shared->stage, CSECCOMP_PROBE_TRAPPED);
    }
    // Returning needs rt_sigreturn, which the filter may refuse or trap again.
    probe_park();
}

static void probe_call(const struct cseccomp_probe_request *request, struct probe_shared *shared) {
    const unsigned long *a = request->arguments;
    errno = 0;
    long value = syscall(request->syscall_number, a[0], a[1], a[2], a[3], a[4], a[5]);
    shared->error_number = errno;
    shared->return_value = value;
    atomic_store(&shared->stage, CSECCOMP_PROBE_RETURNED);
    probe_park();
}

static void *probe_helper(void *raw) {
    struct probe_context *context = raw;
    probe_page = context->shared;
    atomic_store(&context->shared->helper_tid, (int)syscall(SYS_gettid));
    while (atomic_load(&context->shared->go) == 0) {
    }
    probe_call(context->request, context->shared);
    return NULL;
}

static void probe_fail_setup(struct probe_shared *shared) {
    shared->install_errno = errno;
    atomic_store(&shared->stage, CSECCOMP_PROBE_SETUP_FAILED);
    _exit(0);
}

// Runs in the forked child: only the forking thread exists, so everything here sticks to
// calls that are safe after fork in a multithreaded parent (glibc also makes pthread_create
// safe there).
static void probe_child(const struct cseccomp_probe_request *request, struct probe_shared *shared) {
    probe_page = shared;
    atomic_store(&shared->stage, CSECCOMP_PROBE_STARTED);

    // The probe provokes SIGSYS kills on purpose: no core files, whatever core_pattern says.
    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = probe_sigsys;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, NULL) != 0) probe_fail_setup(shared);
    sigset_t sigsys;
    sigemptyset(&sigsys);
    sigaddset(&sigsys, SIGSYS);
    // A blocked SIGSYS would turn a trap into a kill.
    if (pthread_sigmask(SIG_UNBLOCK, &sigsys, NULL) != 0) probe_fail_setup(shared);

    struct probe_context context = {request, shared};
    if (request->on_other_thread) {
        pthread_t helper;
        int created = pthread_create(&helper, NULL, probe_helper, &context);
        if (created != 0) {
            errno = created;
            probe_fail_setup(shared);
        }
        while (atomic_load(&shared->helper_tid) == 0) {
        }
    }

    if (request->set_no_new_privs && cseccomp_set_no_new_privs() != 0) probe_fail_setup(shared);
    int installed = cseccomp_install(request->filter, request->count, request->flags);
    if (installed != 0) {
        shared->install_result = installed;
        shared->install_errno = installed < 0 ? errno : 0;
        atomic_store(&shared->stage, CSECCOMP_PROBE_INSTALL_FAILED);
        _exit(0);  // no filter is in place, so exiting is allowed
    }
    atomic_store(&shared->stage, CSECCOMP_PROBE_INSTALLED);

    if (request->on_other_thread) {
        atomic_store(&shared->go, 1);
        probe_park();
    }
    probe_call(request, shared);
}

static long probe_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void probe_pause(void) {
    struct timespec interval = {0, 200 * 1000};  // 200 µs
    nanosleep(&interval, NULL);
}

static int probe_task_exists(pid_t pid, int tid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, tid);
    return access(path, F_OK) == 0;
}

static void probe_record_status(struct cseccomp_probe_result *result, int status) {
    result->exited = 1;
    result->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static pid_t probe_wait(pid_t pid, int *status, int options) {
    pid_t waited;
    do {
        waited = waitpid(pid, status, options);
    } while (waited < 0 && errno == EINTR);
    return waited;
}

int cseccomp_probe(const struct cseccomp_probe_request *request, struct cseccomp_probe_result *result) {
    memset(result, 0, sizeof(*result));
    result->exit_status = -1;
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    struct probe_shared *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return -1;

    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        munmap(shared, size);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        probe_child(request, shared);
        _exit(127);  // not reached: probe_child parks or exits
    }

    long deadline = probe_now_ms() + request->timeout_ms;
    int status = 0;
    for (;;) {
        int stage = atomic_load(&shared->stage);
        if (stage >= CSECCOMP_PROBE_RETURNED) break;
        if (probe_wait(pid, &status, WNOHANG) == pid) {
            probe_record_status(result, status);
            break;
        }
        int tid = atomic_load(&shared->helper_tid);
        if (request->on_other_thread && stage == CSECCOMP_PROBE_INSTALLED && tid != 0 &&
            !probe_task_exists(pid, tid)) {
            // Either SECCOMP_RET_KILL_THREAD took the helper alone, or the whole process is
            // going down (kill_process): give the latter time to become reapable. A group exit
            // takes microseconds; the generous margin keeps a loaded machine from misreporting it,
            // and only a genuine thread kill waits it out.
            long grace = probe_now_ms() + 1000;
            while (probe_now_ms() < grace) {
                if (probe_wait(pid, &status, WNOHANG) == pid) {
                    probe_record_status(result, status);
                    break;
                }
                probe_pause();
            }
            if (!result->exited) result->thread_killed = 1;
            break;
        }
        if (probe_now_ms() > deadline) {
            result->timed_out = 1;
            break;
        }
        probe_pause();
    }
    if (!result->exited) {
        kill(pid, SIGKILL);
        (void)probe_wait(pid, &status, 0);
    }

    result->stage = atomic_load(&shared->stage);
    result->return_value = shared->return_value;
    result->error_number = shared->error_number;
    result->trap_syscall = shared->trap_syscall;
    result->trap_data = shared->trap_data;
    result->trap_arch = shared->trap_arch;
    result->install_result = shared->install_result;
    result->install_errno = shared->install_errno;
    munmap(shared, size);
    return 0;
}

// MARK: trap reporter

// Everything the SIGSYS handler reads is prepared before it is installed: the handler may
// only use async-signal-safe calls (write, prctl, _exit), so no allocation or name lookup.
enum { trap_names_count = 512 };
static const char *trap_names[trap_names_count];
static char trap_prefix[64];
static int trap_exit_status;

// Appends `text` to `line` at `*length`, truncating at `capacity`.
static void trap_append(char *line, size_t capacity, size_t *length, const char *text) {
    while (*text != '\0' && *length < capacity) line[(*length)++] = *text++;
}

// Appends `value` in decimal.
static void trap_append_number(char *line, size_t capacity, size_t *length, long value) {
    char digits[24];
    int count = 0;
    unsigned long magnitude = value < 0 ? (unsigned long)(-(value + 1)) + 1 : (unsigned long)value;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0 && count < (int)sizeof(digits));
    if (value < 0 && *length < capacity) line[(*length)++] = '-';
    while (count > 0 && *length < capacity) line[(*length)++] = digits[--count];
}

static void trap_handler(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    char line[256];
    size_t length = 0;
    char thread_name[17] = {0};
    prctl(PR_GET_NAME, thread_name, 0, 0, 0);
    int number = info->si_syscall;
    trap_append(line, sizeof(line), &length, trap_prefix);
    trap_append(line, sizeof(line), &length, ": seccomp: thread ");
    trap_append(line, sizeof(line), &length, thread_name);
    trap_append(line, sizeof(line), &length, " (");
    trap_append_number(line, sizeof(line), &length, (long)syscall(SYS_gettid));
    trap_append(line, sizeof(line), &length, ") made the forbidden system call ");
    if (number >= 0 && number < trap_names_count && trap_names[number] != NULL) {
        trap_append(line, sizeof(line), &length, trap_names[number]);
        trap_append(line, sizeof(line), &length, " (");
        trap_append_number(line, sizeof(line), &length, number);
        trap_append(line, sizeof(line), &length, ")");
    } else {
        trap_append_number(line, sizeof(line), &length, number);
    }
    trap_append(line, sizeof(line), &length, "\n");
    // Best effort: nothing can be done about a short write while the process is ending.
    ssize_t written = write(STDERR_FILENO, line, length);
    (void)written;
    _exit(trap_exit_status);
}

int cseccomp_report_traps(const char *prefix, int exit_status) {
    for (int number = 0; number < trap_names_count; number++) {
        // libseccomp returns a string the caller owns; these live for the rest of the process.
        if (trap_names[number] == NULL) {
            trap_names[number] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
        }
    }
    size_t copied = 0;
    while (prefix[copied] != '\0' && copied < sizeof(trap_prefix) - 1) {
        trap_prefix[copied] = prefix[copied];
        copied++;
    }
    trap_prefix[copied] = '\0';
    trap_exit_status = exit_status;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = trap_handler;
    action.sa_flags = SA_SIGINFO;
    sigfillset(&action.sa_mask);
    return sigaction(SIGSYS, &action, NULL);
}

// MARK: coverage builds

// Defined (hidden) by LLVM's profile runtime, which instrumented code always pulls into the
// link; the weak reference leaves its address null in ordinary builds.
extern int __llvm_profile_runtime __attribute__((weak));

int cseccomp_has_profile_runtime(void) { return &__llvm_profile_runtime != 0; }
