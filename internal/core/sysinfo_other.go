//go:build !linux

package core

import (
	"errors"
	"runtime"
)

// readSysinfo: sysinfo(2) is Linux's; elsewhere the command says it has nothing to show.
func readSysinfo() (sysInfo, error) {
	return sysInfo{}, errors.New("sysinfo(2) is not available on " + runtime.GOOS)
}
