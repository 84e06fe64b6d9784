package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// The run directory (astrundir) holds the control socket, the pid file and the lock file.
// Whoever can write to it can replace the socket (and take the console of a server run by
// root) or plant a symbolic link where the server writes its pid file, so the server
// refuses to start when the directory is writable by group or others, or owned by another
// user. It creates a missing run directory with mode 0750.
//
// One server per run directory: the server holds an exclusive lock (flock) on
// pleiades.lock from the start of Start to the end of Shutdown, before it loads any module
// or touches any other file, so a second server refuses to start (naming the first one's
// pid) even while the first is still starting.

// RunDirMode is the mode a missing run directory is created with.
const RunDirMode = 0o750

// LockPath is the lock file's path.
func (s *Settings) LockPath() string { return filepath.Join(s.Dirs.Run, "pleiades.lock") }

// checkRunDir refuses a run directory another user could write to.
func checkRunDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("run directory %s is not a directory", dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); int(sys.Uid) != uid {
			return fmt.Errorf("run directory %s is owned by uid %d, not by the user the server runs as (uid %d): "+
				"another user could replace its control socket; run 'chown %d %s' or point astrundir in asterisk.conf to a directory of the server's user",
				dir, sys.Uid, uid, uid, dir)
		}
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("run directory %s is writable by group or others (mode %04o): "+
			"another user could replace its control socket or plant the files the server writes there; run 'chmod go-w %s' (0750 or 0700) "+
			"or point astrundir in asterisk.conf to a directory only the server's user can write",
			dir, perm, dir)
	}
	return nil
}

// lockRunDir takes the run directory's lock, or says which server holds it.
func lockRunDir(st *Settings) (*os.File, error) {
	f, err := os.OpenFile(st.LockPath(), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another Pleiades server (pid %s) is running with run directory %s", pidOf(st), st.Dirs.Run)
		}
		return nil, fmt.Errorf("locking %s: %w", st.LockPath(), err)
	}
	return f, nil
}

// pidOf reads the pid file of the server that holds the run directory.
func pidOf(st *Settings) string {
	b, err := os.ReadFile(st.PIDPath())
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
		return strconv.Itoa(pid)
	}
	return "unknown"
}

// writePIDFile writes this process's pid to the pid file without following a symbolic link
// planted there: it writes a new file and renames it over the path.
func writePIDFile(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".pid")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// CheckNotRunning says whether a server already runs (or is starting) with these settings'
// run directory: an error naming its pid, or nil. `pleiades` calls it before it starts a
// server in the background, so that it touches none of a running server's files.
func CheckNotRunning(st *Settings) error {
	if pid, ok := cli.Answers(st.CtlPath(), time.Second); ok {
		return fmt.Errorf("a Pleiades server (pid %d) is already running on %s; stop it first (pleiades -rx \"core stop now\") or give this one its own astrundir", pid, st.CtlPath())
	}
	if _, err := os.Stat(st.Dirs.Run); err != nil {
		return nil
	}
	f, err := os.OpenFile(st.LockPath(), os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil // no lock file: nobody holds it
	}
	defer f.Close()
	// The lock is held while the control socket does not answer: a server is starting or
	// stopping (`core stop now` removes the socket before the process has exited). Wait
	// for it a while, so that a stop followed at once by a start works: the new server
	// starts once the old one is gone, and a server that comes up meanwhile is reported.
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			if err == nil {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			}
			return nil
		}
		if pid, ok := cli.Answers(st.CtlPath(), 100*time.Millisecond); ok {
			return fmt.Errorf("a Pleiades server (pid %d) is already running on %s; stop it first (pleiades -rx \"core stop now\") or give this one its own astrundir", pid, st.CtlPath())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a Pleiades server (pid %s) is starting or stopping with run directory %s", pidOf(st), st.Dirs.Run)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockWait is how long CheckNotRunning waits for a server that holds the run directory's
// lock without answering (starting or stopping) before it gives up.
var lockWait = 10 * time.Second
