#include "trap_marker.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 256
#define ID_BYTES 64

static char running[SLOTS][ID_BYTES];
/// The slot of the job this thread runs, -1 on other threads: synchronous traps are delivered to the
/// thread that trapped, so the handler knows which job did it, and jobs merely running beside it are
/// not blamed.
static __thread int current_slot = -1;
static volatile sig_atomic_t marker_fd = -1;
static const int fatal_signals[] = {SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE};
#define FATAL_COUNT (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction previous[FATAL_COUNT];

static void on_fatal_signal(int signal_number) {
    int fd = marker_fd;
    if (fd >= 0) {
        marker_fd = -1;  // once, even if writing faults again
        int slot = current_slot;
        if (slot >= 0 && slot < SLOTS) {
            size_t length = strnlen(running[slot], ID_BYTES - 1);
            if (length > 0) {
                (void)!write(fd, running[slot], length);
                (void)!write(fd, "\n", 1);
                fsync(fd);
            }
        }
    }
    // Hand the signal back to whoever had it (the Swift backtracer, or the default action): returning
    // re-executes the faulting instruction, and abort() raises again by itself.
    for (unsigned i = 0; i < FATAL_COUNT; i++) {
        if (fatal_signals[i] == signal_number) {
            sigaction(signal_number, &previous[i], NULL);
            return;
        }
    }
    signal(signal_number, SIG_DFL);
}

int trap_marker_install(const char *marker_path) {
    int fd = open(marker_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    marker_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    for (unsigned i = 0; i < FATAL_COUNT; i++) {
        if (sigaction(fatal_signals[i], &action, &previous[i]) != 0) return -1;
    }
    return 0;
}

void trap_marker_set(int slot, const char *job_id) {
    if (slot < 0 || slot >= SLOTS || job_id[0] == 0) return;
    running[slot][0] = 0;  // empty while the rest is copied: the handler skips empty slots
    strncpy(running[slot] + 1, job_id + 1, ID_BYTES - 2);
    running[slot][ID_BYTES - 1] = 0;
    running[slot][0] = job_id[0];
    current_slot = slot;
}

void trap_marker_clear(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    running[slot][0] = 0;
    current_slot = -1;
}
