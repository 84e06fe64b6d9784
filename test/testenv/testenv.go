// Package testenv holds what tests need from the machine they run on: the folder kept beside
// the repository (../shared: Asterisk's sample configs and schemas, the seeds) and the one rule
// for a dependency that is missing (a database, a program, that folder): a failure when
// CI=true, a skip otherwise.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Unavailable fails the test when CI=true and skips it otherwise, with the message.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (required when CI=true)")
	}
	tb.Skip(msg)
}

// RepoDir returns the directory that holds go.mod (the repository's root), or "".
func RepoDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SharedDir returns ../shared/rel next to the module root (the directory holding go.mod,
// found from the working directory up), or "" when it does not exist.
func SharedDir(rel string) string {
	dir := RepoDir()
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// SharedPath is SharedDir for a test: a missing path is Unavailable.
func SharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	p := SharedDir(rel)
	if p == "" {
		Unavailable(tb, "../shared/%s not found beside the repository", rel)
	}
	return p
}
