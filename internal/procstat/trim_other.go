//go:build !cgo || !linux

package procstat

func trimC() bool { return false }

func fragmentC(n, size int) func() { return nil }
