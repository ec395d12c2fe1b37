//go:build unix

package keys_test

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the CPU time of the whole process per operation,
// cpu-ns/op, when stop is called. On a shared machine it is steadier than
// ns/op, which counts the time other processes hold the cores.
func reportCPU(b *testing.B) (stop func()) {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
