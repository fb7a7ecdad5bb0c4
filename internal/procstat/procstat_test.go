package procstat

import (
	"runtime"
	"testing"
)

var sink []byte

func TestReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	ResetPeak()
	before := Resident()
	if before <= 0 {
		t.Fatalf("resident size %d", before)
	}
	// Touch 64 MiB: the peak must rise by about that much.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = 1
	}
	if peak := Peak(); peak < before+48<<20 {
		t.Errorf("peak %d MiB after touching 64 MiB from %d MiB", peak>>20, before>>20)
	}
	sink = nil
	c0 := CPUTime()
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i & 3
	}
	if x == 0 || CPUTime() <= c0 {
		t.Errorf("CPU time did not advance: %v then %v", c0, CPUTime())
	}
}

func TestAvailable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/meminfo")
	}
	// Available memory is at least what this process holds resident
	// beyond its own needs, and less than a petabyte.
	if a := Available(); a < 16<<20 || a > 1<<50 {
		t.Errorf("available memory %d bytes", a)
	}
}

func TestSettle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	// Go's garbage: 64 MiB touched and dropped.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = 1
	}
	sink = nil
	// The C heap's: 64 MiB in 64 KiB blocks (below malloc's mmap
	// threshold), freed under a live block.
	release := fragmentC(1024, 64<<10)
	if release == nil {
		t.Skip("no cgo: the C heap cannot be measured")
	}
	defer release()
	before := Resident()
	if !Settle() {
		t.Skip("the C library has no malloc_trim")
	}
	after := Resident()
	if after > before-100<<20 {
		t.Errorf("resident %d MiB before Settle, %d MiB after: want at least 100 MiB of the 128 MiB freed given back", before>>20, after>>20)
	}
}
