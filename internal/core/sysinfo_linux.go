package core

import "syscall"

// readSysinfo reads sysinfo(2) as Asterisk does: hours of uptime, sizes in KiB.
func readSysinfo() (sysInfo, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return sysInfo{}, err
	}
	unit := uint64(si.Unit)
	return sysInfo{
		UptimeHours: int64(si.Uptime) / 3600,
		TotalRAM:    uint64(si.Totalram) * unit / 1024,
		FreeRAM:     uint64(si.Freeram) * unit / 1024,
		BufferRAM:   uint64(si.Bufferram) * unit / 1024,
		TotalSwap:   uint64(si.Totalswap) * unit / 1024,
		FreeSwap:    uint64(si.Freeswap) * unit / 1024,
		Procs:       int(si.Procs),
	}, nil
}
