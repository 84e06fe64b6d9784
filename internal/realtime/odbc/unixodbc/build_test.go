package unixodbc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLibraryMissing: with the driver manager absent, connecting fails with one line naming
// the library and the Debian package that brings it.
func TestLibraryMissing(t *testing.T) {
	for _, lib := range []string{"libodbc-pleiades-missing.so.9", "/nonexistent/libodbc.so.2"} {
		t.Setenv(LibraryEnv, lib)
		want := "odbc: " + lib + " not found (install Debian package unixodbc)"
		if err := Load(); err == nil || err.Error() != want {
			t.Fatalf("Load() = %v, want %q", err, want)
		}
		_, err := Driver{}.Open("Driver=PostgreSQL Unicode;Server=127.0.0.1;")
		if err == nil || err.Error() != want {
			t.Fatalf("Open = %v, want %q", err, want)
		}
		if _, ok := err.(*LoadError); !ok {
			t.Errorf("Open error is %T, want *LoadError", err)
		}
	}
}

// TestLibraryNotODBC: a library that loads but is not a driver manager is refused as well.
func TestLibraryNotODBC(t *testing.T) {
	t.Setenv(LibraryEnv, "libc.so.6")
	err := Load()
	if err == nil || !strings.Contains(err.Error(), "cannot load libc.so.6: no symbol SQLAllocHandle") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("Load() = %v, want one line saying libc.so.6 has no SQLAllocHandle", err)
	}
}

// TestLibraryDefault: PLEIADES_ODBC_LIBRARY unset (or blank) means libodbc.so.2.
func TestLibraryDefault(t *testing.T) {
	t.Setenv(LibraryEnv, " ")
	if got := LibraryName(); got != "libodbc.so.2" {
		t.Errorf("LibraryName() = %q", got)
	}
}

// TestBuildWithoutCgo builds the server and every package with CGO_ENABLED=0 (no C compiler,
// no unixodbc-dev), and runs the server binary so that the cgo-free start-up is exercised.
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole module")
	}
	root := moduleRoot(t)
	gobin, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "pleiades")
	env := append(os.Environ(), "CGO_ENABLED=0", "CC=/nonexistent/cc")
	for _, args := range [][]string{{"build", "-o", bin, "./cmd/pleiades"}, {"build", "./..."}} {
		cmd := exec.Command(gobin, args...)
		cmd.Dir, cmd.Env = root, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Pleiades") {
		t.Fatalf("pleiades -V (cgo-free build) = %q, %v", out, err)
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}
