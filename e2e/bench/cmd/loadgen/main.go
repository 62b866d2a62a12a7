// Command loadgen is a closed-loop HTTP/1.1 load generator for loopback targets: N keep-alive
// connections, a bounded duration, requests/s and latency percentiles.
//
// Run from e2e/bench/:
//
//	go run ./cmd/loadgen -url http://127.0.0.1:8000/api -c 32 -d 10s -H 'Authorization: Bearer ...'
//	go run ./cmd/loadgen -url http://127.0.0.1:8000/api -tokens 20000   # distinct benchmark tokens, cycled
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/loadgen"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
)

type headers map[string]string

func (h headers) String() string { return fmt.Sprint(map[string]string(h)) }
func (h headers) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

func main() {
	hdr := headers{}
	raw := flag.String("url", "", "target URL (http:// on a loopback address)")
	conns := flag.Int("c", 32, "connections")
	duration := flag.Duration("d", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up")
	nTokens := flag.Int("tokens", 0, "send this many distinct benchmark tokens as Authorization, cycled")
	keyFile := flag.String("key", "testdata/bench-key.pem", "key that signs the benchmark tokens")
	flag.Var(hdr, "H", "request header 'Name: value' (repeatable)")
	flag.Parse()
	if err := run(*raw, *conns, *duration, *warmup, *nTokens, *keyFile, hdr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(raw string, conns int, duration, warmup time.Duration, nTokens int, keyFile string, hdr headers) error {
	addr, target, err := loadgen.ParseURL(raw)
	if err != nil {
		return err
	}
	var reqs [][]byte
	if nTokens > 0 {
		m, err := tokens.Load(keyFile)
		if err != nil {
			return err
		}
		pool, err := m.Pool(nTokens)
		if err != nil {
			return err
		}
		for _, t := range pool {
			h := headers{}
			for k, v := range hdr {
				h[k] = v
			}
			h["Authorization"] = "Bearer " + t
			reqs = append(reqs, loadgen.Request(addr, target, h))
		}
	} else {
		reqs = [][]byte{loadgen.Request(addr, target, hdr)}
	}
	res, err := loadgen.Run(loadgen.Config{Addr: addr, Requests: reqs, Conns: conns, Warmup: warmup, Duration: duration})
	if err != nil {
		return err
	}
	fmt.Printf("%d requests in %s: %.0f req/s, p50 %s, p99 %s, status %v, errors %d\n",
		res.Requests, res.Elapsed.Round(time.Millisecond), res.RPS(), res.P50, res.P99, res.Status, res.Errors)
	return nil
}
