package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// stack is an in-process IdP and backend on 127.0.0.1.
type stack struct {
	idp        *idp.IdP
	idpURL     string // also the issuer
	backendURL string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	p, err := idp.New(idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := httptest.NewServer(p)
	t.Cleanup(idpSrv.Close)
	backendSrv := httptest.NewServer(backend.Handler("backend"))
	t.Cleanup(backendSrv.Close)
	return &stack{idp: p, idpURL: idpSrv.URL, backendURL: backendSrv.URL}
}

func (s *stack) mint() harness.Minter { return harness.LocalMinter(s.idp, s.idpURL) }

// common is the settings every guide middleware gets: keys from the IdP's JWKS, its issuer.
func (s *stack) common() map[string]any {
	return map[string]any{"jwksUrl": s.idpURL + idp.JWKSPath, "issuer": s.idpURL}
}

// startTraefik starts Traefik and stops it when the test ends.
func startTraefik(t *testing.T, opts harness.Options) *harness.Traefik {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	tr, err := harness.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start Traefik: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(tr.LogTail(60))
		}
		tr.Stop()
	})
	t.Logf("Traefik %s (API %s) up in %s, dir %s", tr.URL, tr.APIURL, time.Since(start).Round(time.Millisecond), tr.Dir)
	return tr
}

// waitReady waits for the routers and for path to answer something else than 404.
func waitReady(t *testing.T, tr *harness.Traefik, path string, routers ...string) {
	t.Helper()
	ctx := context.Background()
	if err := tr.WaitRouters(ctx, 60*time.Second, routers...); err != nil {
		t.Fatal(err)
	}
	if err := tr.WaitHTTP(ctx, 30*time.Second, path, func(s int) bool { return s != http.StatusNotFound }); err != nil {
		t.Fatal(err)
	}
}

// runCases runs each case as a subtest against baseURL.
func runCases(t *testing.T, baseURL string, cases []harness.Case, mint harness.Minter) {
	t.Helper()
	for _, c := range cases {
		c := c
		t.Run(fmt.Sprintf("%s %s", c.Path, c.Who), func(t *testing.T) {
			r, err := harness.Do(context.Background(), baseURL, c, mint)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.Check(r) {
				t.Errorf("GET %s with %s: %s", c.Path, c.Who, p)
			}
		})
	}
}

// requireDocker skips without a Docker engine, except under CI=true where that is a failure.
func requireDocker(t *testing.T) {
	t.Helper()
	err := dockerAvailable()
	if _, lookErr := exec.LookPath("docker-compose"); err == nil && lookErr != nil {
		err = lookErr
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no usable Docker engine: %v", err)
		}
		t.Skipf("no usable Docker engine (%v); CI=true makes this a failure", err)
	}
}

// sendToken sends method url with "Authorization: <scheme> <token>" and, unless "", a DPoP proof;
// it returns the status, the headers and the body.
func sendToken(t *testing.T, method, url, scheme, token, proof string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}
