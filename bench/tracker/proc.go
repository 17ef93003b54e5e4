package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// target is a tracker process under load.
type target struct {
	name string
	addr string // host:port of HTTP
	pid  int
	cmd  *exec.Cmd
}

func (t *target) stop() {
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startProcess(ctx context.Context, name string, port int, dir, bin string, args ...string) (*target, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	t := &target{name: name, addr: "127.0.0.1:" + strconv.Itoa(port), pid: cmd.Process.Pid, cmd: cmd}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", t.addr, time.Second)
		if err == nil {
			c.Close()
			return t, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.stop()
			return nil, fmt.Errorf("%s does not listen on %s: %v", name, t.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startTorfs(ctx context.Context, bin, dir string) (*target, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, "torfs", port, dir, abs, "tracker",
		"--listen", "127.0.0.1:"+strconv.Itoa(port), "--allow", filepath.Join(dir, "whitelist"))
}

// startOpentracker starts opentracker and waits until it has loaded its
// whitelist (it does so in the background): until then it refuses
// announces, which would count as errors.
func startOpentracker(ctx context.Context, bin, dir string, last string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	// opentracker chroots into -d, so the whitelist is named relative to it.
	t, err := startProcess(ctx, "opentracker", port, dir, bin, "-i", "127.0.0.1", "-p", p, "-P", p, "-w", "whitelist", "-d", dir)
	if err != nil {
		return nil, err
	}
	if err := waitAuthorized(ctx, t, last); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// waitAuthorized polls with a stopped announce for the escaped
// info-hash until the tracker accepts it.
func waitAuthorized(ctx context.Context, t *target, escapedHash string) error {
	req := []byte("GET /announce?info_hash=" + escapedHash + "&peer_id=-BN0001-999999999999&port=9&left=0&event=stopped HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	deadline := time.Now().Add(60 * time.Second)
	body := make([]byte, 1024)
	for {
		var conn net.Conn
		var br *bufio.Reader
		n, _, err := exchange(&conn, &br, t.addr, req, &body)
		if conn != nil {
			conn.Close()
		}
		if err == nil && !strings.Contains(string(body[:n]), "failure reason") {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s still refuses whitelisted torrents after a minute: %v %q", t.name, err, body[:n])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procSample is a process's CPU time so far and its resident set.
type procSample struct {
	cpu time.Duration
	rss int64
}

// readProc reads utime+stime from /proc/PID/stat and VmRSS from
// /proc/PID/status.
func readProc(pid int) (procSample, error) {
	var s procSample
	cpu, err := harness.ProcessCPU(pid)
	if err != nil {
		return s, err
	}
	s.cpu = cpu
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.rss = kb * 1024
		}
	}
	return s, sc.Err()
}
