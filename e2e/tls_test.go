package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// testCA is a certificate authority made for one test: the private CA of an identity provider
// inside a company network.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "withauth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue is a certificate of name for usage, signed by the CA, with the IP addresses ips.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage, ips ...net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serverCertificate is a certificate for 127.0.0.1 signed by the CA.
func (ca *testCA) serverCertificate(t *testing.T) tls.Certificate {
	return ca.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
}

// TestPrivateCAInTraefik: an identity provider whose discovery document and JWKS are served over
// HTTPS with a certificate of a CA made in the test. Without caBundle the fetch fails, tokens
// get 503 and Traefik's log names the certificate problem; with it they are admitted, through
// discovery and through jwksUrl alike.
func TestPrivateCAInTraefik(t *testing.T) {
	s := newStack(t)
	ca := newTestCA(t)
	var issuer string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + idp.JWKSPath})
			return
		}
		s.idp.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCertificate(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	issuer = srv.URL

	// The bundle as a one-line label or variable gives it: "\n" escapes.
	escaped := strings.ReplaceAll(strings.TrimSpace(ca.certPEM), "\n", `\n`)
	routes := []harness.Route{
		{Name: "untrusted", Path: "/untrusted", OwnSettings: true, Auth: map[string]any{"issuer": issuer}},
		{Name: "trusted", Path: "/trusted", OwnSettings: true, Auth: map[string]any{"issuer": issuer, "caBundle": ca.certPEM}},
		{Name: "trustedjwks", Path: "/trusted-jwks", OwnSettings: true, Auth: map[string]any{"jwksUrl": issuer + idp.JWKSPath, "issuer": issuer, "caBundle": escaped}},
		{Name: "catchall", Path: "/", Bare: true},
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"tls.yml": harness.FileConfig(routes, nil, s.backendURL)}})
	waitReady(t, tr, "/trusted", harness.RouterNames(routes)...)
	mint := harness.LocalMinter(s.idp, issuer)
	runCases(t, tr.URL, []harness.Case{
		{Path: "/untrusted", Who: "alice, the provider's CA not trusted", Token: &harness.Alice, Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable"},
		{Path: "/trusted", Who: "alice, caBundle trusted (discovery)", Token: &harness.Alice, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": "alice"}},
		{Path: "/trusted-jwks", Who: "alice, caBundle with \\n escapes (jwksUrl)", Token: &harness.Alice, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": "alice"}},
	}, mint)
	if log := tr.LogTail(1 << 20); !strings.Contains(log, "certificate signed by unknown authority") {
		t.Errorf("Traefik's log does not name the certificate problem of the untrusted route; want \"certificate signed by unknown authority\":\n%s", tr.LogTail(30))
	}
}

// clientCertificate is a client certificate signed by the CA.
func (ca *testCA) clientCertificate(t *testing.T, name string) tls.Certificate {
	return ca.issue(t, name, x509.ExtKeyUsageClientAuth)
}

// writePEM writes a certificate and its key as PEM files in dir.
func writePEM(t *testing.T, dir, name string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestCertificateBoundTokensInTraefik: a Traefik TLS entry point that requires client
// certificates (its default tls options), and a token bound to one of them by cnf["x5t#S256"]
// (RFC 8705): admitted over a connection with its certificate, refused with another.
func TestCertificateBoundTokensInTraefik(t *testing.T) {
	s := newStack(t)
	ca := newTestCA(t)
	dir := t.TempDir()
	serverCert, serverKey := writePEM(t, dir, "server", ca.serverCertificate(t))
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, []byte(ca.certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	mine, theirs := ca.clientCertificate(t, "mine"), ca.clientCertificate(t, "theirs")
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	auth := s.common()
	auth["certificateBound"] = "required"
	dynamic, _ := json.MarshalIndent(map[string]any{
		"http": map[string]any{
			"routers": map[string]any{"bound": map[string]any{"rule": "PathPrefix(`/bound`)", "entryPoints": []string{"websecure"},
				"service": "backend", "middlewares": []string{"bound-auth"}, "tls": map[string]any{}}},
			"middlewares": map[string]any{"bound-auth": map[string]any{"plugin": map[string]any{harness.PluginName: auth}}},
			"services":    map[string]any{"backend": map[string]any{"loadBalancer": map[string]any{"servers": []map[string]string{{"url": s.backendURL}}}}},
		},
		"tls": map[string]any{
			"certificates": []map[string]string{{"certFile": serverCert, "keyFile": serverKey}},
			// The default options: a router without a Host rule (no SNI for 127.0.0.1) gets those.
			"options": map[string]any{"default": map[string]any{"clientAuth": map[string]any{"caFiles": []string{caFile}, "clientAuthType": "RequireAndVerifyClientCert"}}},
		},
	}, "", "  ")
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"mtls.yml": string(dynamic)},
		Args: []string{fmt.Sprintf("--entryPoints.websecure.address=127.0.0.1:%d", port)}})
	if err := tr.WaitRouters(context.Background(), 60*time.Second, "bound@file"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mine.Certificate[0])
	bound := alice(t, s, map[string]any{"cnf": map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}})
	unbound := alice(t, s, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	over := func(cert tls.Certificate, token string) (int, string) {
		t.Helper()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/bound", port), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The router is served once Traefik has loaded the certificates: wait for the first answer.
	deadline := time.Now().Add(30 * time.Second)
	for status, _ := over(mine, unbound); status == http.StatusNotFound && time.Now().Before(deadline); status, _ = over(mine, unbound) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, tc := range []struct {
		what   string
		cert   tls.Certificate
		token  string
		status int
		reason string
	}{
		{"the bound token over its certificate", mine, bound, http.StatusOK, ""},
		{"the bound token over another certificate", theirs, bound, http.StatusUnauthorized, "certificate_mismatch"},
		{"a token bound to no certificate", mine, unbound, http.StatusUnauthorized, "not_certificate_bound"},
	} {
		status, body := over(tc.cert, tc.token)
		if status != tc.status || tc.reason != "" && !strings.Contains(body, `"reason":"`+tc.reason+`"`) {
			t.Errorf("%s: status %d %s; want %d %s", tc.what, status, body, tc.status, tc.reason)
		}
	}
}

// alice is a token of alice from the stack's IdP, with extra claims.
func alice(t *testing.T, s *stack, extra map[string]any) string {
	r := harness.Alice
	r.Extra = extra
	return mustMint(t, s.mint(), r)
}
