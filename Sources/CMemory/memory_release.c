// <stdlib.h> first: on glibc it defines __GLIBC__ (through <features.h>), which the test below needs.
#include <stdlib.h>

#include "memory_release.h"

#if defined(__GLIBC__)
#include <malloc.h>
int montecluster_release_free_memory(void) { return malloc_trim(0); }
#else
int montecluster_release_free_memory(void) { return 0; }
#endif
