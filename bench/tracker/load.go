package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type loadSpec struct {
	addr      string
	set       *swarmSet
	peers     int
	conns     int
	requests  int
	keepAlive bool
	// fill announces every (swarm, peer) exactly once, in random order,
	// as "started"; otherwise peers are picked at random.
	fill bool
}

type loadResult struct {
	ok, errors int
	firstErr   error
	elapsed    time.Duration
	latencies  []time.Duration
}

func (r *loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// load runs spec.requests announces over spec.conns connections, each a
// closed loop (send, read the whole answer, repeat), until done or ctx
// ends. The client speaks raw HTTP/1.1 so that its own cost stays small
// next to the tracker's on shared cores.
func load(ctx context.Context, spec loadSpec) *loadResult {
	var next atomic.Int64
	var order []int32
	if spec.fill {
		order = make([]int32, len(spec.set.hashes)*spec.peers)
		for i := range order {
			order[i] = int32(i)
		}
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		spec.requests = len(order)
	}
	results := make([]*loadResult, spec.conns)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range spec.conns {
		wg.Go(func() {
			results[w] = worker(ctx, spec, &next, order, uint64(w))
		})
	}
	wg.Wait()
	total := &loadResult{elapsed: time.Since(start)}
	for _, r := range results {
		total.ok += r.ok
		total.errors += r.errors
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
		total.latencies = append(total.latencies, r.latencies...)
	}
	slices.Sort(total.latencies)
	return total
}

func worker(ctx context.Context, spec loadSpec, next *atomic.Int64, order []int32, seed uint64) *loadResult {
	res := &loadResult{latencies: make([]time.Duration, 0, spec.requests/spec.conns+1)}
	rng := rand.New(rand.NewPCG(seed, 0x7472))
	var conn net.Conn
	var br *bufio.Reader
	buf := make([]byte, 0, 512)
	body := make([]byte, 4096)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	fail := func(err error) {
		res.errors++
		if res.firstErr == nil {
			res.firstErr = err
		}
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if i >= int64(spec.requests) {
			break
		}
		var swarm, peer int
		event := ""
		if order != nil {
			swarm, peer = int(order[i])/spec.peers, int(order[i])%spec.peers
			event = "&event=started"
		} else {
			swarm, peer = rng.IntN(len(spec.set.hashes)), rng.IntN(spec.peers)
		}
		left := 1000000
		if peer < spec.peers/5 { // a fifth of each swarm seeds
			left = 0
		}
		buf = buf[:0]
		buf = append(buf, "GET /announce?info_hash="...)
		buf = append(buf, spec.set.escaped[swarm]...)
		buf = fmt.Appendf(buf, "&peer_id=-BN0001-%06d%06d&port=%d&uploaded=0&downloaded=0&left=%d&compact=1%s HTTP/1.1\r\nHost: %s\r\n",
			swarm%1000000, peer, 10000+peer, left, event, spec.addr)
		if !spec.keepAlive {
			buf = append(buf, "Connection: close\r\n"...)
		}
		buf = append(buf, "\r\n"...)

		t0 := time.Now()
		n, closeAfter, err := exchange(&conn, &br, spec.addr, buf, &body)
		if err != nil {
			fail(err)
			continue
		}
		if !bytes.HasPrefix(body[:n], []byte("d")) || bytes.Contains(body[:n], []byte("failure reason")) {
			fail(fmt.Errorf("bad answer %q", body[:min(n, 200)]))
			continue
		}
		res.latencies = append(res.latencies, time.Since(t0))
		res.ok++
		if closeAfter || !spec.keepAlive {
			conn.Close()
			conn = nil
		}
	}
	return res
}

// exchange sends one request and reads its answer, dialing when there is
// no connection. A kept-alive connection the server closed meanwhile
// (opentracker closes after every answer) is redialed once, not counted
// as an error.
func exchange(conn *net.Conn, br **bufio.Reader, addr string, req []byte, body *[]byte) (int, bool, error) {
	for attempt := 0; ; attempt++ {
		reused := *conn != nil
		if !reused {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return 0, false, err
			}
			*conn, *br = c, bufio.NewReaderSize(c, 4096)
		}
		(*conn).SetDeadline(time.Now().Add(10 * time.Second))
		_, err := (*conn).Write(req)
		var n int
		var closeAfter bool
		if err == nil {
			n, closeAfter, err = readResponse(*br, body)
		}
		if err == nil {
			return n, closeAfter, nil
		}
		(*conn).Close()
		*conn = nil
		if !reused || attempt > 0 {
			return 0, false, err
		}
	}
}

// readResponse reads one HTTP response into *body and reports whether
// the server will close the connection.
func readResponse(br *bufio.Reader, body *[]byte) (int, bool, error) {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("reading status: %w", err)
	}
	if !bytes.Contains(status, []byte(" 200 ")) {
		return 0, false, fmt.Errorf("status %q", bytes.TrimSpace(status))
	}
	closeAfter := bytes.HasPrefix(status, []byte("HTTP/1.0"))
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, fmt.Errorf("reading headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Connection")):
			closeAfter = bytes.EqualFold(v, []byte("close"))
		}
	}
	if length < 0 {
		// No length: the body runs to the end of the connection.
		b, err := io.ReadAll(br)
		if err != nil {
			return 0, true, err
		}
		*body = append((*body)[:0], b...)
		return len(b), true, nil
	}
	if length > cap(*body) {
		*body = make([]byte, length)
	}
	*body = (*body)[:cap(*body)]
	if _, err := io.ReadFull(br, (*body)[:length]); err != nil {
		return 0, false, errors.Join(errors.New("reading body"), err)
	}
	return length, closeAfter, nil
}
