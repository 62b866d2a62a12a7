package withauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// certificatePEM is a certificate and its key in PEM, signed by parent (self-signed when nil).
type certificatePEM struct {
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
	certPEM, keyPEM string
}

func newCertificate(t testing.TB, name string, parent *certificatePEM, usage x509.ExtKeyUsage) *certificatePEM {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	signer, signerKey := template, key
	if parent == nil {
		template.IsCA = true
		template.BasicConstraintsValid = true
		template.KeyUsage = x509.KeyUsageCertSign
	} else {
		template.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		template.KeyUsage = x509.KeyUsageDigitalSignature
		template.DNSNames = []string{name}
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatePEM{cert: cert, key: key,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}
}

// serverPEM is the PEM of a TLS test server's certificate (httptest's, which signs itself).
func serverPEM(server *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}))
}

func TestTLSSettingsThatDoNotParseAreRefused(t *testing.T) {
	ca := newCertificate(t, "test CA", nil, 0)
	client := newCertificate(t, "client", ca, x509.ExtKeyUsageClientAuth)
	other := newCertificate(t, "other", ca, x509.ExtKeyUsageClientAuth)
	for _, tc := range []struct {
		name  string
		given map[string]interface{}
		want  string
	}{
		{"caBundle not PEM", map[string]interface{}{"caBundle": "MIIB..."}, "caBundle: certificate 1 is not PEM"},
		{"caBundle holding a key", map[string]interface{}{"caBundle": ca.certPEM + client.keyPEM}, `caBundle: block 2 is a "PRIVATE KEY", not a CERTIFICATE`},
		{"caBundle with a broken certificate", map[string]interface{}{"caBundle": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "caBundle: certificate 1:"},
		{"a certificate without its key", map[string]interface{}{"clientCertificate": client.certPEM}, "clientCertificate and clientKey: only one is set"},
		{"a key without its certificate", map[string]interface{}{"clientKey": client.keyPEM}, "clientCertificate and clientKey: only one is set"},
		{"a certificate with another's key", map[string]interface{}{"clientCertificate": client.certPEM, "clientKey": other.keyPEM}, "clientCertificate and clientKey: tls: private key does not match public key"},
	} {
		got := newError(t, givenConfig(t, tc.given))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: New logged %q; want %q", tc.name, got, tc.want)
		}
		if strings.Contains(got, "PRIVATE KEY-----") || strings.Contains(got, client.keyPEM[40:80]) {
			t.Errorf("%s: New logged key material: %q", tc.name, got)
		}
	}
}

// TestCABundleIsTrustedByFetches: a key endpoint whose certificate no system root signs is
// refused (503) until caBundle names it; with "\n" escapes as a label gives it, too.
func TestCABundleIsTrustedByFetches(t *testing.T) {
	server := newTLSKeyServer(t)
	bundle := serverPEM(server.Server)
	for _, tc := range []struct {
		name  string
		given map[string]interface{}
		want  int
	}{
		{"without caBundle", map[string]interface{}{}, http.StatusServiceUnavailable},
		{"with caBundle", map[string]interface{}{"caBundle": bundle}, http.StatusOK},
		{"with caBundle in one line", map[string]interface{}{"caBundle": strings.ReplaceAll(bundle, "\n", `\n`)}, http.StatusOK},
	} {
		tc.given["jwksUrl"] = server.url()
		rec, _ := serve(newHandler(t, givenKeySourceConfig(t, tc.given), &upstream{}), request(validToken(t)))
		if rec.Code != tc.want {
			t.Errorf("%s: status %d (%s); want %d", tc.name, rec.Code, errorDescription(rec), tc.want)
		}
	}
}

// TestClientCertificateForMutualTLS: a key endpoint that requires a client certificate of its
// CA serves the keys to a middleware with clientCertificate and clientKey, and no one else.
func TestClientCertificateForMutualTLS(t *testing.T) {
	ca := newCertificate(t, "clients CA", nil, 0)
	client := newCertificate(t, "withauth", ca, x509.ExtKeyUsageClientAuth)
	stranger := newCertificate(t, "stranger", newCertificate(t, "another CA", nil, 0), x509.ExtKeyUsageClientAuth)
	clients := x509.NewCertPool()
	clients.AddCert(ca.cert)
	keys := readFixture(t, "keys/jwks.json")
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write(keys) }))
	server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	server.StartTLS()
	t.Cleanup(server.Close)
	bundle := serverPEM(server)
	for _, tc := range []struct {
		name  string
		given map[string]interface{}
		want  int
	}{
		{"no client certificate", map[string]interface{}{}, http.StatusServiceUnavailable},
		{"a certificate of another CA", map[string]interface{}{"clientCertificate": stranger.certPEM, "clientKey": stranger.keyPEM}, http.StatusServiceUnavailable},
		{"the client certificate", map[string]interface{}{"clientCertificate": client.certPEM, "clientKey": client.keyPEM}, http.StatusOK},
	} {
		tc.given["jwksUrl"] = server.URL + "/jwks.json"
		tc.given["caBundle"] = bundle
		rec, _ := serve(newHandler(t, givenKeySourceConfig(t, tc.given), &upstream{}), request(validToken(t)))
		if rec.Code != tc.want {
			t.Errorf("%s: status %d (%s); want %d", tc.name, rec.Code, errorDescription(rec), tc.want)
		}
	}
}
