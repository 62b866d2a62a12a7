// Command traefikbench load-tests a real Traefik on 127.0.0.1: a bare route, a route through the
// no-op plugin, and routes through withauth with one repeated token, with thousands of distinct
// tokens (more than the cache holds, and as many as it holds) and with the cache off, and through
// the floor (../shared/floor/plugin: the least a correct RS256 middleware does) when it is there.
// Two scenarios run while the configuration changes every 2 s (a router added under a new name,
// through the watched file provider directory), as Kubernetes and Docker change it. Scenarios run in interleaved rounds;
// each round's requests/s is compared with the same round's bare route, and the medians are
// printed as markdown with Traefik's CPU time per request (from /proc/<pid>/stat).
//
// Run from e2e/bench/: go run ./cmd/traefikbench -traefik ~/.cache/withauth/traefik-v3.6.12
// (WITHAUTH_KEEP=1 keeps Traefik's work directory, as in the e2e suite).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/loadgen"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/origin"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/procstat"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

type scenario struct {
	name, label string
	reqs        [][]byte
	churn       bool // the configuration changes every churnInterval while it runs
	runs        []run
}

// churnInterval is how often the configuration changes during a churn scenario.
const churnInterval = 2 * time.Second

type run struct {
	res    loadgen.Result
	cpu    time.Duration
	ratio  float64 // to the same round's bare route
	cpuReq float64 // µs of Traefik CPU per request
	others float64 // cores used by processes other than Traefik and this one during the run
}

func main() {
	var (
		bin      = flag.String("traefik", "", "Traefik binary (e2e/scripts/build-traefik.sh prints its path)")
		rounds   = flag.Int("rounds", 3, "interleaved rounds of all scenarios")
		duration = flag.Duration("duration", 5*time.Second, "measured time of each run")
		warmup   = flag.Duration("warmup", time.Second, "unmeasured time before each run")
		conns    = flag.Int("conns", 32, "connections (closed loop)")
		distinct = flag.Int("distinct", 20000, "distinct tokens for the distinct-token route (cycled; above cacheSize every request misses)")
		fit      = flag.Int("fit", 5000, "distinct tokens for the route whose tokens fit in the cache (0 skips it)")
		noCache  = flag.Bool("nocache", true, "also run withauth with cacheSize 0")
		keyFile  = flag.String("key", "testdata/bench-key.pem", "RSA private key that signs the tokens")
		plugin   = flag.String("plugin", "../..", "withauth source directory")
		noopDir  = flag.String("noop", "testdata/noop", "no-op plugin source directory")
		floorDir = flag.String("floor", "../../../shared/floor/plugin", "the floor plugin's source directory (skipped when absent)")
		peerDir  = flag.String("peer", "", "traefik-jwt-plugin's source directory (skipped when empty)")
		noPeer   = flag.String("nopeer", "", "with -peer empty: why traefik-jwt-plugin is not measured, for its verdict")
	)
	flag.Parse()
	if *bin == "" {
		fail("-traefik is required")
	}
	peer := yardstick{dir: *peerDir, missing: *noPeer}
	if err := mainErr(*bin, *rounds, *duration, *warmup, *conns, *distinct, *fit, *noCache, *keyFile, *plugin, *noopDir, *floorDir, peer); err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "traefikbench:", msg)
	os.Exit(1)
}

// yardstick is traefik-jwt-plugin's source directory, or why there is none.
type yardstick struct {
	dir, missing string
}

// peerModule is traefik-jwt-plugin's module, as its .traefik.yml imports it.
const peerModule = "github.com/traefik-plugins/traefik-jwt-plugin"

func mainErr(bin string, rounds int, duration, warmup time.Duration, conns, distinct, fit int, noCache bool, keyFile, pluginDir, noopDir, floorDir string, peer yardstick) error {
	bin, _ = filepath.Abs(bin)
	if peer.dir != "" {
		peer.dir, _ = filepath.Abs(peer.dir)
		if _, err := os.Stat(filepath.Join(peer.dir, ".traefik.yml")); err != nil {
			return fmt.Errorf("-peer %s: no .traefik.yml: %w", peer.dir, err)
		}
	}
	pluginDir, _ = filepath.Abs(pluginDir)
	noopDir, _ = filepath.Abs(noopDir)
	floorDir, _ = filepath.Abs(floorDir)
	if _, err := os.Stat(filepath.Join(floorDir, ".traefik.yml")); err != nil {
		fmt.Fprintf(os.Stderr, "traefikbench: no floor plugin at %s: its route is skipped\n", floorDir)
		floorDir = ""
	}
	m, err := tokens.Load(keyFile)
	if err != nil {
		return err
	}
	tok, err := m.Token(0)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "traefikbench: minting or loading %d distinct tokens\n", distinct)
	pool, err := m.Pool(distinct)
	if err != nil {
		return err
	}

	org, err := origin.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer org.Close()

	auth := func(cacheSize string) map[string]any {
		settings := map[string]any{}
		for k, v := range m.PluginConfig(cacheSize) {
			settings[k] = v
		}
		return settings
	}
	ctx := context.Background()
	plugins := []harness.LocalPlugin{{Alias: "noop", Module: "github.com/seed0ec25cca/noop", Dir: noopDir}}
	routes := []harness.Route{
		{Name: "bare", Path: "/bare", Bare: true},
		{Name: "noop", Path: "/noop", Plugin: "noop"},
		{Name: "auth", Path: "/auth/", Auth: auth("")},
		// A configuration of its own: routes configured alike share one cache (cacheSize each
		// configuration), and the distinct tokens, more than it holds, would evict the others'.
		{Name: "authd", Path: "/authd/", Auth: withSetting(auth(""), "clockSkew", "31s")},
		{Name: "authf", Path: "/authf/", Auth: auth("")},
		{Name: "authnc", Path: "/authnc/", Auth: auth("0")},
	}
	if floorDir != "" {
		plugins = append(plugins, harness.LocalPlugin{Alias: "floor", Module: "github.com/jwtfloor/floor", Dir: floorDir})
		routes = append(routes, harness.Route{Name: "floor", Path: "/floor/", Plugin: "floor", Auth: map[string]any{
			"publicKey": m.PublicPEM, "kid": tokens.Kid, "issuer": tokens.Issuer, "audience": tokens.Audience, "roles": []string{tokens.Role},
		}})
	}
	if peer.dir != "" {
		// traefik-jwt-plugin configured as the issue compared it: RS256 from the same key, served
		// as a JWKS, aud and exp checked, the subject forwarded.
		set := m.JWKS()
		jwks := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write(set)
		}))
		defer jwks.Close()
		plugins = append(plugins, harness.LocalPlugin{Alias: "jwtplugin", Module: peerModule, Dir: peer.dir})
		routes = append(routes, harness.Route{Name: "peer", Path: "/peer/", Plugin: "jwtplugin", Auth: map[string]any{
			"Keys": []string{jwks.URL}, "Alg": "RS256", "Required": true, "Aud": tokens.Audience,
			"PayloadFields": []string{"exp"}, "JwtHeaders": map[string]string{"X-User-Id": "sub"},
		}})
	}
	tr, err := harness.Start(ctx, harness.Options{
		Binary:   bin,
		Root:     pluginDir,
		LogLevel: "ERROR",
		Plugins:  plugins,
		Dynamic:  map[string]string{"bench.yml": harness.FileConfig(routes, nil, "http://"+org.Addr())},
	})
	if err != nil {
		return err
	}
	defer tr.Stop()
	addr := strings.TrimPrefix(tr.URL, "http://")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		tr.Stop()
		org.Close()
		os.Exit(130)
	}()
	started := time.Now()
	cases := []harness.Case{
		{Path: "/bare", Raw: tok, Status: 200},
		{Path: "/noop", Raw: tok, Status: 200},
		{Path: "/auth/x", Raw: tok, Status: 200},
		{Path: "/auth/x", Status: 401},
		{Path: "/auth/x", Raw: tokens.BadSignature(tok), Status: 401},
		{Path: "/authd/x", Raw: tok, Status: 200},
		{Path: "/authnc/x", Raw: tok, Status: 200},
	}
	if floorDir != "" {
		cases = append(cases, harness.Case{Path: "/floor/x", Raw: tok, Status: 200}, harness.Case{Path: "/floor/x", Raw: tokens.BadSignature(tok), Status: 401})
	}
	if peer.dir != "" {
		// traefik-jwt-plugin answers an invalid token 403.
		cases = append(cases, harness.Case{Path: "/peer/x", Raw: tok, Status: 200}, harness.Case{Path: "/peer/x", Raw: tokens.BadSignature(tok), Status: 403})
	}
	err = tr.WaitCases(ctx, 90*time.Second, cases)
	if err != nil {
		return err
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	fmt.Fprintf(os.Stderr, "traefikbench: Traefik ready in %s (pid %d, %s)\n", time.Since(started).Round(time.Millisecond), tr.Pid(), addr)
	rssStart, _ := procstat.RSS(tr.Pid())

	host := "bench.local"
	one := func(path string) [][]byte { return [][]byte{loadgen.Request(host, path, bearer)} }
	distinctReqs := make([][]byte, len(pool))
	for i, t := range pool {
		distinctReqs[i] = loadgen.Request(host, "/authd/x", map[string]string{"Authorization": "Bearer " + t})
	}
	scens := []*scenario{
		{name: "bare", label: "bare route (no middleware)", reqs: one("/bare")},
		{name: "noop", label: "no-op Yaegi plugin", reqs: one("/noop")},
		{name: "auth", label: "withauth, one repeated token (cache hit)", reqs: one("/auth/x")},
		{name: "authd", label: fmt.Sprintf("withauth, %d distinct tokens (cache miss)", len(pool)), reqs: distinctReqs},
	}
	if fit > 0 {
		fitReqs := make([][]byte, min(fit, len(pool)))
		for i := range fitReqs {
			fitReqs[i] = loadgen.Request(host, "/authf/x", map[string]string{"Authorization": "Bearer " + pool[i]})
		}
		fmt.Fprintf(os.Stderr, "traefikbench: priming the fit-in-cache route with its %d tokens\n", len(fitReqs))
		if err := prime(addr, "/authf/x", pool[:len(fitReqs)]); err != nil {
			return err
		}
		scens = append(scens, &scenario{name: "authf", label: fmt.Sprintf("withauth, %d distinct tokens (fit in the cache: hits after the first pass)", len(fitReqs)), reqs: fitReqs},
			&scenario{name: "authf-churn", label: fmt.Sprintf("withauth, the same %d tokens, a configuration change every %s", len(fitReqs), churnInterval), reqs: fitReqs, churn: true})
	}
	if noCache {
		scens = append(scens, &scenario{name: "authnc", label: "withauth, cacheSize 0, one token", reqs: one("/authnc/x")},
			&scenario{name: "authnc-churn", label: fmt.Sprintf("withauth, cacheSize 0, one token, a configuration change every %s", churnInterval), reqs: one("/authnc/x"), churn: true})
	}
	if floorDir != "" {
		scens = append(scens, &scenario{name: "floor", label: "the floor (../shared/floor/plugin: RS256, no cache), one token", reqs: one("/floor/x")},
			&scenario{name: "floor-churn", label: fmt.Sprintf("the floor, one token, a configuration change every %s", churnInterval), reqs: one("/floor/x"), churn: true})
	}
	if peer.dir != "" {
		scens = append(scens, &scenario{name: "peer", label: "traefik-jwt-plugin (" + filepath.Base(peer.dir) + "), RS256 from a JWKS, one token", reqs: one("/peer/x")},
			&scenario{name: "peer-churn", label: fmt.Sprintf("traefik-jwt-plugin, one token, a configuration change every %s", churnInterval), reqs: one("/peer/x"), churn: true})
	}
	churns := 0
	for r := 0; r < rounds; r++ {
		order := append(append([]*scenario{}, scens[r%len(scens):]...), scens[:r%len(scens)]...)
		for _, s := range order {
			var cpu0, cpu1, self0, self1, all0, all1 time.Duration
			stopChurn := func() int { return 0 }
			if s.churn {
				stopChurn = churn(tr, &churns)
			}
			res, err := loadgen.Run(loadgen.Config{
				Addr: addr, Requests: s.reqs, Conns: conns, Warmup: warmup, Duration: duration,
				OnMeasureStart: func() {
					cpu0, _ = procstat.CPUTime(tr.Pid())
					self0, _ = procstat.CPUTime(os.Getpid())
					all0, _ = procstat.MachineBusy()
				},
				OnMeasureEnd: func() {
					cpu1, _ = procstat.CPUTime(tr.Pid())
					self1, _ = procstat.CPUTime(os.Getpid())
					all1, _ = procstat.MachineBusy()
				},
			})
			changes := stopChurn()
			if err != nil {
				return fmt.Errorf("round %d %s: %w\n%s", r+1, s.name, err, tr.LogTail(40))
			}
			if s.churn {
				fmt.Fprintf(os.Stderr, "traefikbench: round %d %s: %d configuration changes\n", r+1, s.name, changes)
			}
			cpu := cpu1 - cpu0
			others := max(0, float64(all1-all0-cpu-(self1-self0))/float64(res.Elapsed))
			s.runs = append(s.runs, run{res: res, cpu: cpu, cpuReq: float64(cpu.Microseconds()) / float64(res.Requests), others: others})
			fmt.Fprintf(os.Stderr, "traefikbench: round %d %-7s %8.0f req/s p50 %-9s p99 %-9s cpu %.1f µs/req status %v errors %d, other processes %.2f cores\n",
				r+1, s.name, res.RPS(), res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), s.runs[r].cpuReq, res.Status, res.Errors, others)
		}
	}
	rssEnd, _ := procstat.RSS(tr.Pid())
	for _, s := range scens {
		for r := range s.runs {
			s.runs[r].ratio = s.runs[r].res.RPS() / scens[0].runs[r].res.RPS()
		}
	}
	report(scens, rounds, duration, warmup, conns, rssStart, rssEnd, peer)
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func collect(s *scenario, f func(run) float64) []float64 {
	out := make([]float64, len(s.runs))
	for i, r := range s.runs {
		out[i] = f(r)
	}
	return out
}

func report(scens []*scenario, rounds int, duration, warmup time.Duration, conns int, rssStart, rssEnd int64, peer yardstick) {
	bare := scens[0]
	extra := func(s *scenario) []float64 {
		out := make([]float64, len(s.runs))
		for i := range s.runs {
			out[i] = s.runs[i].cpuReq - bare.runs[i].cpuReq
		}
		return out
	}
	fmt.Printf("### Real Traefik\n\n")
	fmt.Printf("Closed loop, %d connections, %s measured after %s warm-up per run, %d interleaved rounds (order rotated each round); "+
		"Traefik, the load generator and the origin share the machine. Ratio: the run's requests/s over the same round's bare route, median of the rounds. "+
		"CPU: Traefik's utime+stime (/proc/<pid>/stat, 10 ms ticks) over the measured window, per request; extra: minus the same round's bare route, median.\n\n",
		conns, duration, warmup, rounds)
	fmt.Printf("| route | req/s (median) | ratio to bare (median) | per-round ratios | p50 | p99 | Traefik CPU µs/req | extra CPU µs/req (median; per round) | non-200 / errors |\n")
	fmt.Printf("|---|---:|---:|---|---:|---:|---:|---|---:|\n")
	for _, s := range scens {
		ratios := collect(s, func(r run) float64 { return r.ratio })
		var rr []string
		for _, x := range ratios {
			rr = append(rr, fmt.Sprintf("%.3f", x))
		}
		var bad, errs int64
		for _, r := range s.runs {
			errs += r.res.Errors
			for code, n := range r.res.Status {
				if code != 200 {
					bad += n
				}
			}
		}
		p50 := median(collect(s, func(r run) float64 { return float64(r.res.P50) }))
		p99 := median(collect(s, func(r run) float64 { return float64(r.res.P99) }))
		var ee []string
		for _, x := range extra(s) {
			ee = append(ee, fmt.Sprintf("%.1f", x))
		}
		fmt.Printf("| %s | %.0f | %.3f | %s | %s | %s | %.1f | %.1f; %s | %d / %d |\n", s.label,
			median(collect(s, func(r run) float64 { return r.res.RPS() })), median(ratios), strings.Join(rr, ", "),
			time.Duration(p50).Round(time.Microsecond), time.Duration(p99).Round(time.Microsecond),
			median(collect(s, func(r run) float64 { return r.cpuReq })), median(extra(s)), strings.Join(ee, ", "), bad, errs)
	}
	var others []float64
	for _, s := range scens {
		others = append(others, collect(s, func(r run) float64 { return r.others })...)
	}
	sort.Float64s(others)
	fmt.Printf("\nTraefik RSS: %.1f MiB when ready, %.1f MiB after the runs. "+
		"CPU used by other processes on the machine during the measured windows (noise): median %.2f, max %.2f cores of %d.\n\n",
		float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20), median(others), others[len(others)-1], runtime.NumCPU())

	byName := map[string]*scenario{}
	for _, s := range scens {
		byName[s.name] = s
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	ratio := func(s *scenario) float64 { return median(collect(s, func(r run) float64 { return r.ratio })) }
	// The targets of issue 30 (the verification path at the floor) that a Traefik run measures,
	// each with a configuration change every churnInterval where the issue says so.
	fmt.Printf("| target | measured | verdict |\n|---|---|---|\n")
	if s, peerChurn := byName["authnc-churn"], byName["peer-churn"]; s != nil {
		switch {
		case peerChurn != nil:
			e, p := median(extra(s)), median(extra(peerChurn))
			fmt.Printf("| cacheSize 0, a configuration change every %s: less extra Traefik CPU per request than traefik-jwt-plugin | %.1f µs (traefik-jwt-plugin %.1f µs) | %s |\n",
				churnInterval, e, p, verdictBy(e < p, fmt.Sprintf("by %.1f µs", e-p), verdict))
		default:
			fmt.Printf("| cacheSize 0, a configuration change every %s: less extra Traefik CPU per request than traefik-jwt-plugin | %.1f µs; traefik-jwt-plugin not measured: %s | BLOCKED |\n",
				churnInterval, median(extra(s)), peer.missing)
		}
	}
	if s, floor := byName["authnc-churn"], byName["floor-churn"]; s != nil && floor != nil {
		e, f := median(extra(s)), median(extra(floor))
		fmt.Printf("| cacheSize 0, a configuration change every %s: extra Traefik CPU per request ≤ 1.5× the floor's | %.1f µs (floor %.1f µs: %.2f×) | %s |\n",
			churnInterval, e, f, e/f, verdictBy(e <= 1.5*f, fmt.Sprintf("by %.1f µs", e-1.5*f), verdict))
	}
	if s, noop := byName["auth"], byName["noop"]; s != nil && noop != nil {
		r, n := ratio(s), ratio(noop)
		fmt.Printf("| one repeated token within 0.05 of the no-op plugin | %.3f (no-op plugin %.3f) | %s |\n",
			r, n, verdictBy(r >= n-0.05, fmt.Sprintf("by %.3f", n-0.05-r), verdict))
		fmt.Printf("| (one repeated token: Traefik extra CPU per request, informational) | %.1f µs (no-op plugin %.1f µs) | — |\n", median(extra(s)), median(extra(noop)))
	}
	if s, still := byName["authf-churn"], byName["authf"]; s != nil && still != nil {
		r, n := ratio(s), ratio(still)
		fmt.Printf("| %d distinct tokens, a configuration change every %s: ≥ 0.75 of bare (and, issue 21, within 0.05 of the same route without changes) | %.3f (without changes %.3f) | %s |\n",
			len(s.reqs), churnInterval, r, n, verdictBy(r >= 0.75 && r >= n-0.05, fmt.Sprintf("by %.3f", max(0.75-r, n-0.05-r)), verdict))
	}
	if s, floor := byName["authnc"], byName["floor"]; s != nil && floor != nil {
		e, f := median(extra(s)), median(extra(floor))
		fmt.Printf("| (without changes: cacheSize 0 over the floor, extra CPU, informational) | %.1f µs (floor %.1f µs: %.2f×) | — |\n", e, f, e/f)
	}
	if s, p := byName["authnc"], byName["peer"]; s != nil && p != nil {
		fmt.Printf("| (without changes: cacheSize 0 and traefik-jwt-plugin, extra CPU, informational) | %.1f µs (traefik-jwt-plugin %.1f µs) | — |\n", median(extra(s)), median(extra(p)))
	}
	fmt.Println()
}

func verdictBy(ok bool, by string, verdict func(bool) string) string {
	if ok {
		return verdict(true)
	}
	return verdict(false) + " " + by
}

// withSetting is settings with key set to value.
func withSetting(settings map[string]any, key string, value any) map[string]any {
	settings[key] = value
	return settings
}

// churn changes Traefik's configuration every churnInterval until the returned function is
// called, which returns the number of changes: each adds a router under a new name (n counts
// them across scenarios), the way a container or a pod coming up does.
func churn(tr *harness.Traefik, n *int) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		changes := 0
		ticker := time.NewTicker(churnInterval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				done <- changes
				return
			case <-ticker.C:
				*n++
				name := fmt.Sprintf("churn-%d", *n)
				// The router uses bench.yml's service: a service defined in two files would be refused.
				router := map[string]any{"rule": "PathPrefix(`/" + name + "`)", "entryPoints": []string{"web"}, "service": "backend"}
				config, _ := json.Marshal(map[string]any{"http": map[string]any{"routers": map[string]any{name: router}}})
				if err := tr.WriteDynamic("churn.yml", string(config)); err != nil {
					fmt.Fprintln(os.Stderr, "traefikbench: churn:", err)
				}
				changes++
			}
		}
	}()
	return func() int {
		close(stop)
		return <-done
	}
}

// prime sends every token once to path, so that the route's cache holds them before it is measured.
func prime(addr, path string, toks []string) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var next atomic.Int64
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(toks) {
					errs <- nil
					return
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
				req.Header.Set("Authorization", "Bearer "+toks[i])
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("priming %s: token %d answered %d", path, i, resp.StatusCode)
					return
				}
			}
		}()
	}
	var first error
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
			next.Store(int64(len(toks)))
		}
	}
	return first
}
