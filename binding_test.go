package withauth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"testing"
)

// TestCertificateBoundTokens: a token with cnf["x5t#S256"] is admitted only over a TLS
// connection whose client certificate it names (RFC 8705), on a cache hit too; with required,
// a token without it is refused; no header stands in for the certificate.
func TestCertificateBoundTokens(t *testing.T) {
	ca := newCertificate(t, "clients CA", nil, 0)
	mine := newCertificate(t, "mine", ca, x509.ExtKeyUsageClientAuth)
	theirs := newCertificate(t, "theirs", ca, x509.ExtKeyUsageClientAuth)
	sum := sha256.Sum256(mine.cert.Raw)
	bound := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}})(t)
	unbound := validToken(t)
	over := func(cert *certificatePEM, token string) func() *http.Request {
		return func() *http.Request {
			req := request(token)
			if cert != nil {
				req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.cert}}
			}
			return req
		}
	}
	spoofed := func() *http.Request {
		req := over(nil, bound)()
		req.Header.Set("X-Forwarded-Tls-Client-Cert", base64.StdEncoding.EncodeToString(mine.cert.Raw))
		return req
	}
	for _, mode := range []string{"allowed", "required"} {
		config := pemConfig(t)
		config.CertificateBound = mode
		handler := newHandler(t, config, &upstream{})
		unboundWant := map[string]int{"allowed": 200, "required": 401}[mode]
		for _, tc := range []struct {
			name   string
			req    func() *http.Request
			want   int
			reason string
		}{
			{"the bound token over its certificate", over(mine, bound), 200, ""},
			{"again (a cache hit)", over(mine, bound), 200, ""},
			{"the bound token over another certificate", over(theirs, bound), 401, "certificate_mismatch"},
			{"the bound token without TLS", over(nil, bound), 401, "certificate_mismatch"},
			{"the bound token with the certificate in a header", spoofed, 401, "certificate_mismatch"},
			{"an unbound token", over(mine, unbound), unboundWant, map[string]string{"allowed": "", "required": "not_certificate_bound"}[mode]},
		} {
			rec, _ := serve(handler, tc.req())
			if rec.Code != tc.want || tc.want != 200 && bodyField(rec.Body.Bytes(), "reason") != tc.reason {
				t.Errorf("%s, certificateBound %s: status %d %s; want %d %s", tc.name, mode, rec.Code, rec.Body.String(), tc.want, tc.reason)
			}
		}
	}
}
