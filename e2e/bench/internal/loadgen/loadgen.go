// Package loadgen is a closed-loop HTTP/1.1 load generator for loopback benchmarks.
//
// Each of Conns workers owns one keep-alive TCP connection and sends its next request as soon as
// the previous answer is read, for a bounded duration. Requests are pre-formatted bytes and
// answers are parsed just enough (status, Content-Length or chunked body) to keep the
// generator's own CPU cost per request small: on a 2-core machine it shares the CPU with the
// server under test, so a cheaper client makes the server's differences show more.
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one run.
type Config struct {
	// Addr is host:port; only loopback addresses are accepted.
	Addr string
	// Requests are the raw requests, sent round-robin across all connections (one is fine).
	Requests [][]byte
	Conns    int
	// Warmup is run first and not counted; Duration is the measured window.
	Warmup, Duration time.Duration
	// OnMeasureStart and OnMeasureEnd, when set, are called at the edges of the measured window
	// (to read the server's CPU time, for example).
	OnMeasureStart, OnMeasureEnd func()
}

// Result is what one run measured.
type Result struct {
	Requests int64
	Errors   int64 // transport errors (each one also reconnects)
	Status   map[int]int64
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// RPS is the number of answered requests per second of the measured window.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Request formats a GET request for target (path and query) with extra header lines.
func Request(host, target string, headers map[string]string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: withauth-bench\r\n", target, host)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// CheckLoopback refuses any address that is not on this machine's loopback.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: the load generator only targets loopback addresses", addr)
	}
	return nil
}

// ParseURL returns the host:port and the request target of a http:// URL on loopback.
func ParseURL(raw string) (addr, target string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "http" {
		return "", "", errors.New("only http:// URLs")
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if err := CheckLoopback(addr); err != nil {
		return "", "", err
	}
	return addr, u.RequestURI(), nil
}

const (
	phaseWarmup = iota
	phaseMeasure
	phaseStop
)

type worker struct {
	lat    []int64
	reqs   int64
	errs   int64
	status map[int]int64
}

// Run performs one closed-loop run.
func Run(cfg Config) (Result, error) {
	if err := CheckLoopback(cfg.Addr); err != nil {
		return Result{}, err
	}
	if len(cfg.Requests) == 0 || cfg.Conns <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: need requests, connections and a duration")
	}
	var phase atomic.Int32
	var next atomic.Uint64
	workers := make([]*worker, cfg.Conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{lat: make([]int64, 0, 1<<16), status: map[int]int64{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(cfg, &phase, &next)
		}()
	}
	time.Sleep(cfg.Warmup)
	if cfg.OnMeasureStart != nil {
		cfg.OnMeasureStart()
	}
	start := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(cfg.Duration)
	phase.Store(phaseStop)
	elapsed := time.Since(start)
	if cfg.OnMeasureEnd != nil {
		cfg.OnMeasureEnd()
	}
	wg.Wait()

	res := Result{Status: map[int]int64{}, Elapsed: elapsed}
	var all []int64
	for _, w := range workers {
		res.Requests += w.reqs
		res.Errors += w.errs
		for k, v := range w.status {
			res.Status[k] += v
		}
		all = append(all, w.lat...)
	}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		res.P50 = time.Duration(all[len(all)*50/100])
		res.P99 = time.Duration(all[min(len(all)-1, len(all)*99/100)])
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("loadgen: no request answered (%d errors)", res.Errors)
	}
	return res, nil
}

func (w *worker) loop(cfg Config, phase *atomic.Int32, next *atomic.Uint64) {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		p := phase.Load()
		if p == phaseStop {
			return
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", cfg.Addr, 5*time.Second)
			if err != nil {
				if p == phaseMeasure {
					w.errs++
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		req := cfg.Requests[0]
		if len(cfg.Requests) > 1 {
			req = cfg.Requests[(next.Add(1)-1)%uint64(len(cfg.Requests))]
		}
		t0 := time.Now()
		_ = conn.SetDeadline(t0.Add(10 * time.Second))
		code, keep, err := roundTrip(conn, br, req)
		d := time.Since(t0)
		// Count only exchanges that started and ended inside the measured window.
		counted := p == phaseMeasure && phase.Load() == phaseMeasure
		if err != nil {
			if counted {
				w.errs++
			}
			conn.Close()
			conn = nil
			continue
		}
		if counted {
			w.reqs++
			w.status[code]++
			w.lat = append(w.lat, int64(d))
		}
		if !keep {
			conn.Close()
			conn = nil
		}
	}
}

// roundTrip writes req and reads one answer, returning its status and whether the connection
// stays open.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (int, bool, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep := line[7] == '1'
	length := int64(-1)
	chunked := false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			continue
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, false, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case code == 204 || code == 304:
	case chunked:
		if err := skipChunked(br); err != nil {
			return 0, false, err
		}
	case length >= 0:
		if _, err := br.Discard(int(length)); err != nil {
			return 0, false, err
		}
	default:
		// Body up to the end of the connection.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return 0, false, err
		}
		keep = false
	}
	return code, keep, nil
}

func skipChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return err
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
