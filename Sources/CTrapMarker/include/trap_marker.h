#ifndef MONTECLUSTER_TRAP_MARKER_H
#define MONTECLUSTER_TRAP_MARKER_H

/// Records which job's thread died of a trap (a Swift runtime check, abort, a bad memory access), so
/// the next start can stop retrying a job that keeps killing the server.
/// The handler only calls write(2), fsync(2) and sigaction(2), which are async-signal-safe.

/// Opens (truncating) `marker_path` and installs the handlers; returns 0 or -1 with errno set.
int trap_marker_install(const char *marker_path);
/// Marks `job_id` (at most 63 bytes) as run by the calling thread in `slot` (0 ..< 256); ignored outside that range.
void trap_marker_set(int slot, const char *job_id);
void trap_marker_clear(int slot);

#endif
