package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables that steer BuildTorfs.
const (
	// EnvTorfsBin names a torfs binary to use instead of building one.
	EnvTorfsBin = "TORFS_BIN"
	// envBuildDir is where Main lets BuildTorfs keep the one build of a
	// test binary's run.
	envBuildDir = "TORFS_HARNESS_BUILD_DIR"
)

// runTimeout bounds RunTorfs when the test has no earlier deadline.
const runTimeout = 2 * time.Minute

// Main runs a test binary's tests with one shared build directory for
// BuildTorfs and removes it afterwards. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "torfs-build-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: temp dir for the torfs build: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv(envBuildDir, dir); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	}
	return m.Run()
}

// BuildTorfs returns the path of a torfs binary built from this module's
// cmd/torfs. It builds once per test binary when TestMain uses Main (the
// build directory is shared and locked, so parallel tests wait for one
// build), or once per test otherwise. $TORFS_BIN, when set, is used as is.
func BuildTorfs(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv(EnvTorfsBin); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			tb.Fatalf("$%s: %v", EnvTorfsBin, err)
		}
		return bin
	}
	dir := os.Getenv(envBuildDir)
	if dir == "" {
		dir = tb.TempDir()
	}
	ctx, cancel := testContext(tb, runTimeout)
	defer cancel()
	bin, err := BuildTorfsIn(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// BuildTorfsIn builds cmd/torfs into dir (once: an existing build there is
// reused) and returns the binary's path. Concurrent callers with the same
// dir wait for a single build.
func BuildTorfsIn(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "torfs")
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("build torfs: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("build torfs: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/torfs")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/torfs: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod that encloses the working
// directory (tests run in their package's directory).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the torfs module (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the torfs module: run the tests from the repository")
	}
	return filepath.Dir(gomod), nil
}

// Result is a finished run.
type Result struct {
	Name   string // program and arguments
	Args   []string
	Code   int
	Stdout string
	Stderr string
	// MaxRSS is the peak resident set size in bytes.
	MaxRSS int64
}

func (r *Result) String() string {
	return fmt.Sprintf("%s: exit %d\n--- stdout:\n%s\n--- stderr:\n%s",
		r.Name, r.Code, tail(r.Stdout, outputTail), tail(r.Stderr, outputTail))
}

// Command is a program to run: Path with Args, in Dir (default: the test's
// working directory), with Env added to the test's environment.
type Command struct {
	Path string
	Args []string
	Dir  string
	Env  []string // "KEY=value"
	// Name labels the process in messages; default: the base name of Path
	// and the first argument.
	Name string
}

func (c Command) spec() procSpec {
	name := c.Name
	if name == "" {
		name = strings.TrimSpace(filepath.Base(c.Path) + " " + firstArg(c.Args))
	}
	return procSpec{name: name, path: c.Path, args: c.Args, dir: c.Dir, env: c.Env}
}

// Run runs c to completion and returns its result whatever the exit code.
// It fails the test only when c cannot start or does not finish in time
// (the test's deadline or two minutes).
func Run(tb testing.TB, c Command) *Result {
	tb.Helper()
	ctx, cancel := testContext(tb, runTimeout)
	defer cancel()
	p, err := startProcess(c.spec())
	if err != nil {
		tb.Fatal(err)
	}
	code, err := p.Wait(ctx)
	if err != nil {
		_ = p.Stop()
		tb.Fatal(err)
	}
	return &Result{Name: c.Path + " " + strings.Join(c.Args, " "), Args: c.Args, Code: code, Stdout: p.Stdout(), Stderr: p.Stderr(), MaxRSS: p.MaxRSS()}
}

// Start starts c in the background. The process is stopped when the test
// ends and its output logged if the test failed.
func Start(tb testing.TB, c Command) *Process {
	tb.Helper()
	p, err := startProcess(c.spec())
	if err != nil {
		tb.Fatal(err)
	}
	cleanupProcess(tb, p)
	return p
}

// RunTorfs runs bin with args to completion and fails the test, with the
// output, unless it exits 0. The run is bounded by the test's deadline or
// two minutes.
func RunTorfs(tb testing.TB, bin string, args ...string) *Result {
	tb.Helper()
	r := Run(tb, Command{Path: bin, Args: loopbackOnly(args)})
	if r.Code != 0 {
		tb.Fatalf("%v", r)
	}
	return r
}

// RunTorfsStatus is RunTorfs for runs expected to fail: it returns the
// result whatever the exit code.
func RunTorfsStatus(tb testing.TB, bin string, args ...string) *Result {
	tb.Helper()
	return Run(tb, Command{Path: bin, Args: loopbackOnly(args)})
}

// StartTorfs starts bin with args in the background (a seeder, a tracker, a
// mount). The process is stopped when the test ends and its output logged
// if the test failed.
//
// RunTorfs, RunTorfsStatus and StartTorfs keep tests on loopback: the
// commands that join a swarm (get, seed, mount, serve, info) get --no-dht, so
// they never contact the public DHT routers, unless args already have
// --no-dht or --dht-bootstrap (a test that builds its own loopback DHT);
// and get, seed, mount and serve get --no-port-map, so that one not given a
// loopback --listen never looks for a router (SSDP multicast, NAT-PMP to
// the default gateway).
func StartTorfs(tb testing.TB, bin string, args ...string) *Process {
	tb.Helper()
	return Start(tb, Command{Path: bin, Args: loopbackOnly(args)})
}

// loopbackOnly adds --no-dht, and --no-port-map, after the command name
// of a torfs command line that joins a swarm and says nothing about them.
func loopbackOnly(args []string) []string {
	if len(args) == 0 {
		return args
	}
	switch args[0] {
	case "get", "seed", "mount", "serve", "info":
	default:
		return args
	}
	dhtSet, portMapSet := false, args[0] == "info" // info maps no port
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") {
			dhtSet = dhtSet || name == "no-dht" || name == "dht-bootstrap"
			portMapSet = portMapSet || name == "no-port-map"
		}
	}
	out := []string{args[0]}
	if !dhtSet {
		out = append(out, "--no-dht")
	}
	if !portMapSet {
		out = append(out, "--no-port-map")
	}
	return append(out, args[1:]...)
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// Context returns a context that ends after d, before the test's own
// deadline (leaving time for cleanup), or when the test ends.
func Context(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := testContext(tb, d)
	tb.Cleanup(cancel)
	return ctx
}

func testContext(tb testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if t, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := t.Deadline(); ok {
			// Keep a few seconds for cleanup and failure messages.
			if td = td.Add(-10 * time.Second); td.Before(deadline) {
				deadline = td
			}
		}
	}
	return context.WithDeadline(context.Background(), deadline)
}
