//go:build cgo && linux

package procstat

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// onnxloss_malloc_trim calls the C library's malloc_trim(0) where it has
// one (glibc), looked up at run time so that other C libraries link too.
// It returns -1 where there is none.
static int onnxloss_malloc_trim(void) {
	int (*trim)(size_t) = (int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim");
	if (!trim) {
		return -1;
	}
	return trim(0);
}

// onnxloss_fragment touches n blocks of size bytes from malloc and frees
// them all but a small block after the last, which keeps the C library
// from returning the freed pages when they are freed: what a session
// leaves behind after it is closed. The kept block is returned, to free.
static void *onnxloss_fragment(int n, size_t size) {
	void **blocks = malloc(n * sizeof(void *));
	for (int i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		memset(blocks[i], 1, size);
	}
	void *keep = malloc(64);
	for (int i = 0; i < n; i++) {
		free(blocks[i]);
	}
	free(blocks);
	return keep;
}
*/
import "C"

import "unsafe"

// trimC gives the C allocator's free pages back to the system.
func trimC() bool { return C.onnxloss_malloc_trim() >= 0 }

// fragmentC leaves n·size bytes of touched, freed memory in the C heap, for
// the tests; the returned function frees the block that holds it there.
func fragmentC(n, size int) func() {
	keep := C.onnxloss_fragment(C.int(n), C.size_t(size))
	return func() { C.free(unsafe.Pointer(keep)) }
}
