package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 5 * time.Second

// outputTail bounds how much of a process's output goes into a failure
// message: enough to see the end of a story, not a whole 1 GiB run.
const outputTail = 16 << 10

// Process is a child process started by the harness: its own process group,
// stdout and stderr captured, killed by Stop (and by the test's cleanup).
type Process struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *watchBuffer
	stderr *watchBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // exit error; read only after done is closed

	stopOnce    sync.Once
	failedEarly bool        // exited non-zero before Stop; set inside stopOnce
	waited      atomic.Bool // a Wait saw the exit: its code is the caller's business
}

// procSpec describes a process to start.
type procSpec struct {
	name string // short name for messages, e.g. "libtorrent seed"
	path string
	args []string
	dir  string
	env  []string // appended to os.Environ()
	// stdout, when set, also receives everything written to stdout.
	stdout io.Writer
	// lifeline runs the program under a shell that kills it when stdin
	// reaches EOF: for programs that change user (opentracker), which
	// clears the kernel's kill-on-parent-death signal.
	lifeline bool
}

// lifelineScript runs "$@" and kills it when stdin reaches EOF, which
// happens when the harness stops it or dies, even by SIGKILL. The shell
// exits with the program's status.
//
// A non-interactive shell gives background jobs /dev/null as stdin unless
// they redirect it themselves, hence the explicit fd 3.
const lifelineScript = `exec 3<&0
"$@" </dev/null 3<&- &
child=$!
{ cat <&3 >/dev/null; kill "$child" 2>/dev/null; } &
exec 3<&-
wait "$child"`

// startProcess starts spec's program. The process gets its own process
// group so Stop takes its children along, SIGKILL when the harness's thread
// dies, and a stdin pipe the caller may use as a lifeline.
func startProcess(spec procSpec) (*Process, error) {
	path, args := spec.path, spec.args
	if spec.lifeline {
		path, args = "/bin/sh", append([]string{"-c", lifelineScript, "lifeline", path}, args...)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = spec.dir
	if len(spec.env) > 0 {
		cmd.Env = append(os.Environ(), spec.env...)
	}
	p := &Process{
		name:   spec.name,
		cmd:    cmd,
		stdout: newWatchBuffer(),
		stderr: newWatchBuffer(),
		done:   make(chan struct{}),
	}
	cmd.Stdout = p.stdout
	if spec.stdout != nil {
		cmd.Stdout = io.MultiWriter(p.stdout, spec.stdout)
	}
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, spec.path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name is the short name the harness gave the process.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stdout is everything the process wrote to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr is everything the process wrote to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its exit code then.
func (p *Process) Exited() (code int, exited bool) {
	select {
	case <-p.done:
		p.waited.Store(true)
		return p.cmd.ProcessState.ExitCode(), true
	default:
		return 0, false
	}
}

// MaxRSS is the process's peak resident set size in bytes, known once it
// has exited (0 before).
func (p *Process) MaxRSS() int64 {
	select {
	case <-p.done:
	default:
		return 0
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // Linux reports KiB
	}
	return 0
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// Wait waits until the process exits and returns its exit code; it returns
// an error with the process's output when ctx ends first.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		p.waited.Store(true)
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, fmt.Errorf("%s still running: %w\n%s", p.name, ctx.Err(), p.Output())
	}
}

// WaitOutput waits until stdout or stderr contains s and returns the
// complete line holding it. It fails when the process exits first or ctx
// ends.
func (p *Process) WaitOutput(ctx context.Context, s string) (string, error) {
	for {
		outCh, errCh := p.stdout.changed(), p.stderr.changed()
		for _, b := range []*watchBuffer{p.stdout, p.stderr} {
			if line, ok := b.line(s); ok {
				return line, nil
			}
		}
		select {
		case <-outCh:
		case <-errCh:
		case <-p.done:
			// Output may have landed just before the exit.
			for _, b := range []*watchBuffer{p.stdout, p.stderr} {
				if line, ok := b.line(s); ok {
					return line, nil
				}
			}
			return "", fmt.Errorf("%s exited (%v) before printing %q\n%s", p.name, p.err, s, p.Output())
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not print %q: %w\n%s", p.name, s, ctx.Err(), p.Output())
		}
	}
}

// Stop ends the process: its group gets SIGTERM, its stdin closes and,
// after a grace period, the group gets SIGKILL. It returns an error with the
// output only when the process had already failed (non-zero exit) before
// Stop and no Wait saw it; how it ends after being told to stop is its own
// business. Stop may be called more than once.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.failedEarly = p.err != nil && !p.waited.Load()
			return
		default:
		}
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Children that ignored SIGTERM must not outlive the test.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
	if p.failedEarly {
		return fmt.Errorf("%s had failed: %w\n%s", p.name, p.err, p.Output())
	}
	return nil
}

// Output is the tail of the process's stdout and stderr, labelled, for
// failure messages.
func (p *Process) Output() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s (pid %d) stdout:\n%s", p.name, p.Pid(), tail(p.stdout.String(), outputTail))
	fmt.Fprintf(&b, "\n--- %s stderr:\n%s", p.name, tail(p.stderr.String(), outputTail))
	return b.String()
}

// tail keeps the start of s (how things began) and its end (how they
// ended) within about n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head := n / 4
	return s[:head] + "\n[...]\n" + s[len(s)-(n-head):]
}

// cleanupProcess registers Stop with tb and logs the process's output when
// the test failed, so every failure message carries the story.
func cleanupProcess(tb testing.TB, p *Process) {
	tb.Helper()
	tb.Cleanup(func() {
		err := p.Stop()
		if tb.Failed() {
			tb.Logf("output of %s:\n%s", p.name, p.Output())
		}
		if err != nil {
			tb.Errorf("stop %v", err)
		}
	})
}

// watchBuffer is a goroutine-safe output buffer that lets readers wait for
// new output.
type watchBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{} // closed and replaced on every write
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{notify: make(chan struct{})} }

func (w *watchBuffer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	close(w.notify)
	w.notify = make(chan struct{})
	return len(b), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// changed returns a channel closed at the next write.
func (w *watchBuffer) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.notify
}

// line returns the first complete or partial line containing s.
func (w *watchBuffer) line(s string) (string, bool) {
	all := w.String()
	i := strings.Index(all, s)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndexByte(all[:i], '\n') + 1
	end := strings.IndexByte(all[i:], '\n')
	if end < 0 {
		return all[start:], true
	}
	return all[start : i+end], true
}
