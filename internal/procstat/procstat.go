// Package procstat reads the process's resident memory, its peak and its
// CPU time, for benchmarks that report what a session costs. On systems
// without /proc or getrusage the readings are 0.
package procstat

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ResetPeak resets the kernel's peak resident size (VmHWM) to the current
// resident size (Linux 4.0+); elsewhere it does nothing.
func ResetPeak() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// Settle gives memory that the process no longer uses back to the system:
// it collects Go's garbage and returns Go's free pages, and calls the C
// library's malloc_trim where it has one (glibc, in a cgo build), which
// returns the free pages of every malloc arena. Measured after Settle,
// Resident counts only live memory, and the growth of Peak over it counts
// every page a later allocation touches, even one that reuses an address
// freed before. It reports whether the C allocator was trimmed.
func Settle() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return trimC()
}

// Resident is the process's resident size in bytes (VmRSS).
func Resident() int64 { return status("VmRSS:") }

// Peak is the process's peak resident size in bytes since the last
// ResetPeak (VmHWM).
func Peak() int64 { return status("VmHWM:") }

// CPUTime is the process's user and system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Available is the memory available for starting new programs without
// swapping, in bytes (MemAvailable of /proc/meminfo), or 0 where the
// system does not report it.
func Available() int64 { return memField("/proc/meminfo", "MemAvailable:") }

// status reads a memory field of /proc/self/status in bytes.
func status(field string) int64 { return memField("/proc/self/status", field) }

// memField reads a field given in kB from a file of /proc, in bytes.
func memField(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			if f := strings.Fields(line); len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
