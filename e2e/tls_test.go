package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
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

// serverCertificate is a certificate for 127.0.0.1 signed by the CA.
func (ca *testCA) serverCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
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
