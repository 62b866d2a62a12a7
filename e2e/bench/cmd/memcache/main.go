// Command memcache fills withauth's verified-token cache with distinct typical (Frontegg-shaped)
// tokens and reports the heap it grew by: runtime.ReadMemStats after runtime.GC, before and after
// the fill, with everything else the measurement holds allocated before the first reading. It
// measures the compiled plugin (the root module, through a replace directive) and the plugin as
// Traefik runs it, interpreted by Yaegi: one route, or (-routes 100) 100 routes of distinct
// configurations, each sent more distinct tokens than its cacheSize, together more than the
// process's bound.
//
// Run from e2e/bench/: go run ./cmd/memcache; go run ./cmd/memcache -routes 100
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/mitchellh/mapstructure"
	"github.com/seed0ec25cca/withauth"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/statuswriter"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
	"github.com/seed0ec25cca/withauth/e2e/internal/yaegiplugin"
)

var okNext = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })

func heap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

type result struct {
	name                 string
	before, after        uint64
	fill, recent, cyclic time.Duration
	fillBad, recentBad   int
	cyclicBad            int
}

// measure sends every token once (a fresh request and header string each, as from the network)
// and reads the heap before and after. Then, for timing only: the most recent 1000 tokens again
// (any cache of this size holds them: hits), and all tokens again in the same order.
func measure(name string, h http.Handler, toks []string) result {
	send := func(toks []string) (time.Duration, int) {
		start := time.Now()
		bad := sendAll(h, toks)
		return time.Since(start) / time.Duration(len(toks)), bad
	}
	r := result{name: name}
	r.before = heap()
	r.fill, r.fillBad = send(toks)
	r.after = heap()
	r.recent, r.recentBad = send(toks[len(toks)-min(1000, len(toks)):])
	r.cyclic, r.cyclicBad = send(toks)
	runtime.KeepAlive(h)
	runtime.KeepAlive(toks)
	return r
}

// loadInterpreted stages the plugin in a temporary GOPATH and loads it under Yaegi, as Traefik
// does; cleanup removes the copy.
func loadInterpreted(pluginDir string) (*yaegiplugin.Plugin, func(), error) {
	tmp, err := os.MkdirTemp("", "withauth-memcache-")
	if err != nil {
		return nil, nil, err
	}
	p, err := yaegiplugin.StageAndLoad(pluginDir, tmp, "github.com/seed0ec25cca/withauth", yaegiplugin.Options{Stderr: os.Stderr})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return p, func() { os.RemoveAll(tmp) }, nil
}

// sendAll sends each token once through h, a fresh request and header string each, as from
// the network, and counts the answers other than 200.
func sendAll(h http.Handler, toks []string) (bad int) {
	for _, t := range toks {
		req, _ := http.NewRequest(http.MethodGet, "http://bench.local/api", nil)
		req.Header["Authorization"] = []string{"Bearer " + t}
		rw := statuswriter.New()
		h.ServeHTTP(rw, req)
		if rw.Code != 0 && rw.Code != http.StatusOK {
			bad++
		}
	}
	return bad
}

func decode(config map[string]any, target any) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           target,
	})
	if err != nil {
		return err
	}
	return d.Decode(config)
}

func main() {
	n := flag.Int("tokens", 10000, "distinct tokens to fill the cache with")
	cacheSize := flag.Int("cachesize", 10000, "the plugin's cacheSize")
	keyFile := flag.String("key", "testdata/bench-key.pem", "RSA private key that signs the tokens")
	pluginDir := flag.String("plugin", "../..", "withauth source directory, for the Yaegi measurement")
	skipYaegi := flag.Bool("no-yaegi", false, "measure the compiled plugin only")
	routes := flag.Int("routes", 0, "measure this many routes instead of one (a process of its own: the store is the process's)")
	perRoute := flag.Int("route-tokens", 500, "with -routes: distinct tokens sent to each route")
	routeCacheSize := flag.Int("route-cachesize", 400, "with -routes: the cacheSize of each route")
	flag.Parse()
	run := func() error { return run(*n, *cacheSize, *keyFile, *pluginDir, *skipYaegi) }
	if *routes > 0 {
		run = func() error { return runRoutes(*routes, *perRoute, *routeCacheSize, *keyFile, *pluginDir, *skipYaegi) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "memcache:", err)
		os.Exit(1)
	}
}

func run(n, cacheSize int, keyFile, pluginDir string, skipYaegi bool) error {
	m, err := tokens.Load(keyFile)
	if err != nil {
		return err
	}
	toks, err := m.Pool(n)
	if err != nil {
		return err
	}
	total := 0
	for _, t := range toks {
		total += len(t)
	}
	config := map[string]any{
		"publicKey":   m.PublicPEM,
		"issuer":      tokens.Issuer,
		"audience":    tokens.Audience,
		"roles":       tokens.Role,
		"permissions": tokens.Permission,
		"cacheSize":   fmt.Sprint(cacheSize),
	}
	var results []result

	cfg := withauth.CreateConfig()
	if err := decode(config, cfg); err != nil {
		return err
	}
	h, err := withauth.New(context.Background(), okNext, cfg, "memcache")
	if err != nil {
		return err
	}
	results = append(results, measure("compiled", h, toks))

	if !skipYaegi {
		p, cleanup, err := loadInterpreted(pluginDir)
		if err != nil {
			return err
		}
		defer cleanup()
		// A first handler warms the interpreter (lazily built method wrappers and the like) so
		// that the measured one's growth is its cache.
		if warm, err := p.New(context.Background(), okNext, config, "warm"); err == nil {
			measure("warm-up", warm, toks[:min(100, len(toks))])
		}
		yh, err := p.New(context.Background(), okNext, config, "memcache")
		if err != nil {
			return err
		}
		results = append(results, measure("Yaegi v0.16.1 (as Traefik runs it)", yh, toks))
	}

	fmt.Printf("### Token cache memory\n\n")
	fmt.Printf("%d distinct typical Frontegg-shaped tokens (%d bytes each on average; claims as in shared/examples/frontegg-user-token.json), cacheSize %d. "+
		"Heap growth: HeapAlloc after runtime.GC() following the fill, minus before it; the requests are built as the fill runs, so what the plugin keeps of them counts. "+
		"Timings include building each request.\n\n", n, total/n, cacheSize)
	fmt.Printf("| plugin | heap growth | per token | fill µs/req (misses) | last 1000 again µs/req (hits) | all again, same order, µs/req | non-200 |\n|---|---:|---:|---:|---:|---:|---:|\n")
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	for _, r := range results {
		growth := int64(r.after) - int64(r.before)
		fmt.Printf("| %s | %.2f MB | %.0f B | %.1f | %.1f | %.1f | %d |\n", r.name, float64(growth)/1e6, float64(growth)/float64(n),
			us(r.fill), us(r.recent), us(r.cyclic), r.fillBad+r.recentBad+r.cyclicBad)
	}
	fmt.Println()
	verdict := "met"
	worst := int64(0)
	for _, r := range results {
		if g := int64(r.after) - int64(r.before); g > worst {
			worst = g
		}
	}
	if worst >= 30e6 {
		verdict = fmt.Sprintf("MISSED by %.1f MB", float64(worst-30e6)/1e6)
	}
	fmt.Printf("| target | measured | verdict |\n|---|---|---|\n| full cache of %d typical tokens < 30 MB | %.1f MB (largest above) | %s |\n\n", n, float64(worst)/1e6, verdict)
	return nil
}

// storeBoundBytes is the bound the README documents for every cached grant of a process.
const storeBoundBytes = 64 << 20

// runRoutes builds routes middlewares of distinct configurations (their clockSkew differs), as
// many routers of one Traefik would, sends each perRoute distinct tokens of its own (more than
// its cacheSize) and reports the heap growth against the process's bound.
func runRoutes(routes, perRoute, cacheSize int, keyFile, pluginDir string, skipYaegi bool) error {
	m, err := tokens.Load(keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "memcache: minting or loading %d distinct tokens\n", routes*perRoute)
	toks, err := m.Pool(routes * perRoute)
	if err != nil {
		return err
	}
	configOf := func(route int) map[string]any {
		return map[string]any{
			"publicKey": m.PublicPEM, "issuer": tokens.Issuer, "audience": tokens.Audience,
			"roles": tokens.Role, "cacheSize": fmt.Sprint(cacheSize), "clockSkew": fmt.Sprintf("%ds", 30+route),
		}
	}
	fill := func(name string, newHandler func(config map[string]any, name string) (http.Handler, error)) (result, error) {
		handlers := make([]http.Handler, routes)
		for i := range handlers {
			h, err := newHandler(configOf(i), fmt.Sprintf("route-%d", i))
			if err != nil {
				return result{}, err
			}
			handlers[i] = h
		}
		r := result{name: name}
		r.before = heap()
		start := time.Now()
		for i, h := range handlers {
			r.fillBad += sendAll(h, toks[i*perRoute:(i+1)*perRoute])
		}
		r.fill = time.Since(start) / time.Duration(len(toks))
		r.after = heap()
		runtime.KeepAlive(handlers)
		runtime.KeepAlive(toks)
		return r, nil
	}
	var results []result
	compiled, err := fill("compiled", func(config map[string]any, name string) (http.Handler, error) {
		cfg := withauth.CreateConfig()
		if err := decode(config, cfg); err != nil {
			return nil, err
		}
		return withauth.New(context.Background(), okNext, cfg, name)
	})
	if err != nil {
		return err
	}
	results = append(results, compiled)
	if !skipYaegi {
		p, cleanup, err := loadInterpreted(pluginDir)
		if err != nil {
			return err
		}
		defer cleanup()
		interpreted, err := fill("Yaegi v0.16.1 (as Traefik runs it)", func(config map[string]any, name string) (http.Handler, error) {
			return p.New(context.Background(), okNext, config, name)
		})
		if err != nil {
			return err
		}
		results = append(results, interpreted)
	}
	fmt.Printf("### Memory for %d routes\n\n", routes)
	fmt.Printf("%d routes of distinct configurations (their clockSkew differs), cacheSize %d each, each sent %d distinct tokens of its own: %d tokens, "+
		"whose grants would take more than the process's bound of %d MiB. Heap growth as above.\n\n", routes, cacheSize, perRoute, len(toks), storeBoundBytes>>20)
	fmt.Printf("| plugin | heap growth | fill µs/req (misses) | non-200 |\n|---|---:|---:|---:|\n")
	worst := int64(0)
	for _, r := range results {
		growth := int64(r.after) - int64(r.before)
		worst = max(worst, growth)
		fmt.Printf("| %s | %.1f MB | %.1f | %d |\n", r.name, float64(growth)/1e6, float64(r.fill.Nanoseconds())/1e3, r.fillBad)
	}
	fmt.Println()
	verdict := "met"
	if worst > storeBoundBytes {
		verdict = fmt.Sprintf("MISSED by %.1f MiB", float64(worst-storeBoundBytes)/(1<<20))
	}
	fmt.Printf("| target | measured | verdict |\n|---|---|---|\n| %d routes, each past its cacheSize: one bound, ≤ 64 MiB | %.1f MiB (largest above) | %s |\n\n", routes, float64(worst)/(1<<20), verdict)
	return nil
}
