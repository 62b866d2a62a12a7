// Command demo runs withauth inside a real Traefik on 127.0.0.1 with the routes of
// examples/dynamic.yml, a demo identity provider and a demo backend, walks through the cases as a
// table, prints curl commands with fresh tokens and keeps running until Ctrl-C.
//
// Environment: DEMO_EXIT=1 exits after the table (status 1 if a case did not go as expected);
// DEMO_PORT, DEMO_IDP_PORT, DEMO_BACKEND_PORT choose the ports (default 8000, 9000, 9001, or free
// ones when those are taken); TRAEFIK_BIN uses another Traefik binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	// The build script says so when it builds Traefik (the first run only); a cached build
	// starts at once.
	binary, err := harness.TraefikBinary(ctx, root, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println("withauth demo: Traefik", binary)

	provider, err := idp.New(idp.Options{})
	if err != nil {
		return err
	}
	idpURL, stopIdP, err := serve(envPort("DEMO_IDP_PORT", 9000), provider)
	if err != nil {
		return err
	}
	defer stopIdP()
	backendURL, stopBackend, err := serve(envPort("DEMO_BACKEND_PORT", 9001), backend.Handler("backend"))
	if err != nil {
		return err
	}
	defer stopBackend()

	example, err := harness.ReadExample(root, "dynamic.yml")
	if err != nil {
		return err
	}
	dynamic, err := harness.Localize("examples/dynamic.yml", example, map[string]string{
		harness.ExampleIdPURL: idpURL, harness.ExampleBackendURL: backendURL,
	})
	if err != nil {
		return err
	}
	webPort, err := pickPort(envPort("DEMO_PORT", 8000))
	if err != nil {
		return err
	}
	// Traefik's work directory goes when the demo stops; its log is kept where it can be read after.
	logPath := filepath.Join(cacheDir(), "demo-traefik.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	tr, err := harness.Start(ctx, harness.Options{Binary: binary, Root: root, WebPort: webPort, LogLevel: "INFO",
		Dynamic: map[string]string{"dynamic.yml": dynamic}, Log: logFile})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping Traefik, the IdP and the backend")
		tr.Stop()
	}()
	if _, err := tr.WaitProviderRouters(ctx, time.Minute, "file"); err != nil {
		return err
	}
	if err := tr.WaitHTTP(ctx, 30*time.Second, "/shift", func(s int) bool { return s != http.StatusNotFound }); err != nil {
		return err
	}

	fmt.Printf("\nTraefik %s with the withauth plugin from %s (local plugin)\n", tr.URL, root)
	fmt.Printf("  routes     examples/dynamic.yml (Traefik's API: %s/api/http/routers, log: %s)\n", tr.APIURL, logPath)
	fmt.Printf("  IdP        %s  (JWKS %s, tokens /token)\n", idpURL, idp.JWKSPath)
	fmt.Printf("  backend    %s  (answers with the identity headers it received)\n\n", backendURL)
	for _, r := range harness.GuideRoutes() {
		fmt.Printf("  %-9s  %s\n", r.Path, r.Access)
	}
	fmt.Println()

	failed := walkThrough(ctx, tr.URL, harness.LocalMinter(provider, idpURL))
	if err := printCurl(tr.URL, idpURL, provider); err != nil {
		return err
	}
	if failed > 0 {
		err = fmt.Errorf("%d case(s) did not go as expected (marked ✗ above)", failed)
	}
	if os.Getenv("DEMO_EXIT") == "1" {
		return err
	}
	if err != nil {
		fmt.Println("demo:", err)
	}
	fmt.Println("Running; press Ctrl-C to stop.")
	if werr := tr.Wait(ctx); errors.Is(werr, harness.ErrExited) {
		return fmt.Errorf("%w\n%s", werr, tr.LogTail(20))
	}
	return err
}

// cacheDir is $WITHAUTH_CACHE, else ~/.cache/withauth, as the Makefile's.
func cacheDir() string {
	if dir := os.Getenv("WITHAUTH_CACHE"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "withauth")
}

// walkThrough prints the guide's cases as a table and returns how many went unexpectedly.
func walkThrough(ctx context.Context, baseURL string, mint harness.Minter) int {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\tREQUEST\tTOKEN\tSTATUS\tBACKEND SAW")
	var problems []string
	for _, c := range harness.GuideCases() {
		request := "GET " + c.Path
		r, err := harness.Do(ctx, baseURL, c, mint)
		mark, status, saw := "✓", r.Outcome(), r.Backend()
		if err != nil {
			status, saw = "error", err.Error()
		}
		if p := c.Check(r); err != nil || len(p) > 0 {
			mark = "✗"
			problems = append(problems, fmt.Sprintf("GET %s with %s: %v %s", c.Path, c.Who, err, strings.Join(p, "; ")))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", mark, request, c.Who, status, saw)
	}
	_ = w.Flush()
	fmt.Println()
	for _, p := range problems {
		fmt.Println("✗", p)
	}
	return len(problems)
}

// printCurl prints commands to try by hand, with tokens valid for an hour.
func printCurl(baseURL, idpURL string, provider *idp.IdP) error {
	alice, err := provider.Mint(harness.Alice, idpURL)
	if err != nil {
		return err
	}
	bob, err := provider.Mint(harness.Bob, idpURL)
	if err != nil {
		return err
	}
	fmt.Println("Try it yourself: paste into a shell (the tokens are valid for one hour).")
	fmt.Println()
	fmt.Printf("ALICE='%s'  # alice: tenant acme, role read-only, permission uploadFile\n", alice)
	fmt.Printf("BOB='%s'  # bob: tenant acme, roles admin, billing\n\n", bob)
	for _, line := range [][2]string{
		{"curl -i %s/shift", "401: no token"},
		{`curl -i -H "Authorization: Bearer $ALICE" %s/home`, "200: alice has the role read-only"},
		{`curl -i -H "Authorization: Bearer $ALICE" %s/admin`, "403: alice is not an admin"},
		{`curl -i -H "Authorization: Bearer $BOB" %s/admin`, "200: bob is an admin"},
		{`curl -i -H "Authorization: Bearer $BOB" %s/uploads`, "403: bob lacks the permission uploadFile"},
		{`curl -i -H "Authorization: Bearer $ALICE" -H 'X-User-Id: mallory' %s/shift`, "200: the backend sees alice, not mallory"},
	} {
		fmt.Printf("%s   # %s\n", fmt.Sprintf(line[0], baseURL), line[1])
	}
	fmt.Printf("\n# More tokens from the demo IdP (query: sub, tenant, roles, permissions, ttl, expired=1, key=unknown):\n"+
		"TOKEN=$(curl -s '%s')\ncurl -i -H \"Authorization: Bearer $TOKEN\" %s/home   # 403: carol has no role\n\n",
		harness.TokenURL(idpURL, harness.Carol), baseURL)
	return nil
}

// serve serves h on 127.0.0.1:port (a free port if that one is taken) until stop is called.
func serve(port int, h http.Handler) (url string, stop func(), err error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return "", nil, err
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// pickPort returns port when it is free on 127.0.0.1, else a free one.
func pickPort(port int) (int, error) {
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		l.Close()
		return port, nil
	}
	return harness.FreePort()
}

func envPort(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}
