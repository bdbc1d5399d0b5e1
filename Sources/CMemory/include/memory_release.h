#ifndef MONTECLUSTER_MEMORY_RELEASE_H
#define MONTECLUSTER_MEMORY_RELEASE_H

/// Returns the allocator's free memory to the operating system (glibc's malloc_trim(0)): a finished
/// training job leaves hundreds of megabytes freed but kept in malloc's arenas, counted in the server's
/// resident size until trimmed. Returns 1 if memory was released, 0 if not (or not glibc).
int montecluster_release_free_memory(void);

#endif
