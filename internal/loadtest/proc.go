package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is 100
// on every Linux architecture Go supports (sysconf would need cgo).
const clockTicks = 100

// ProcSample is one reading of a process's resource use.
type ProcSample struct {
	RSSBytes   int64   // resident set size (VmRSS)
	CPUSeconds float64 // user + system CPU time since the process started
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("loadtest: read proc stat: %w", err)
	}
	cpu, err := parseStat(stat)
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("loadtest: read proc status: %w", err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{RSSBytes: rss, CPUSeconds: cpu}, nil
}

// parseStat returns utime+stime in seconds. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (float64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("loadtest: parse proc stat: no command name")
	}
	f := strings.Fields(string(b[end+1:]))
	// After the name: state(3) ppid(4) … utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("loadtest: parse proc stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("loadtest: parse proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// parseStatusRSS returns VmRSS in bytes.
func parseStatusRSS(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("loadtest: parse proc status: bad VmRSS line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("loadtest: parse proc status: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("loadtest: parse proc status: no VmRSS (zombie or kernel thread?)")
}
