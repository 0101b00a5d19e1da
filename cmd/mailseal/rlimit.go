package main

import (
	"log/slog"
	"syscall"
)

// fdReserve is the part of the open-file limit kept for everything but
// client connections: the SQLite files, listeners, the admin server, logs.
const fdReserve = 64

// raiseOpenFiles lifts the soft RLIMIT_NOFILE to the hard limit, so that
// idle connections do not run the daemon out of file descriptors early, and
// returns the limit now in force (0 if unknown).
func raiseOpenFiles(log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("cannot raise the open-file limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
			return lim.Cur
		}
		lim = raised
	}
	return lim.Cur
}

// connectionLimits derives milter.max_connections and
// socketmap.max_connections from the open-file limit when they are 0. A
// milter connection may hold three descriptors (the socket, a spool file,
// the reinject connection of a split), a socketmap connection one: the
// milter gets three quarters of what is left after fdReserve, the socketmap
// one quarter, so both together never exceed the limit. Each is capped at
// 4096, which is far above Postfix's default process limits.
func connectionLimits(nofile uint64, milterMax, socketmapMax int) (int, int) {
	const ceiling = 4096
	avail := 0
	if nofile > fdReserve {
		avail = int(min(nofile-fdReserve, 1<<30))
	}
	derive := func(share int) int {
		if avail == 0 {
			return 256 // unknown limit: a conservative guess
		}
		return min(max(share, 1), ceiling)
	}
	if milterMax <= 0 {
		milterMax = derive(avail / 4) // three quarters, at three descriptors each
	}
	if socketmapMax <= 0 {
		socketmapMax = derive(avail / 4)
	}
	return milterMax, socketmapMax
}
