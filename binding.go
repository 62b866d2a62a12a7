package withauth

// Tokens bound to the client that presents them: to a DPoP key (cnf.jkt, RFC 9449), or to the
// TLS client certificate of the connection (cnf["x5t#S256"], RFC 8705). Checked on every
// request, cached grant or not.

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// certificateRule is a route's certificateBound setting: allowed (a token bound to a
// certificate needs it) or required (only bound tokens).
type certificateRule struct {
	required bool
}

// newCertificateRule checks certificateBound; nil when it is off.
func newCertificateRule(config *Config) (*certificateRule, error) {
	switch strings.TrimSpace(config.CertificateBound) {
	case "", "off":
		return nil, nil
	case "allowed":
		return &certificateRule{}, nil
	case "required":
		return &certificateRule{required: true}, nil
	}
	return nil, fmt.Errorf("certificateBound: %q is not a setting; use off, allowed (a certificate-bound token needs its certificate) or required", config.CertificateBound)
}

// checkBinding judges the binding of a token's grant to the request that presents it, at now:
// its DPoP proof (dpop, nil when off; a fresh nonce goes in answer), its TLS client certificate
// (certificates, nil when off).
func checkBinding(dpop *dpopRule, certificates *certificateRule, now time.Time, req *http.Request, answer http.Header, token string, source credentialSource, g *grant) error {
	if dpop != nil {
		switch {
		case source == fromDPoP && g.jkt == "":
			return errNotDPoPBound
		case source == fromDPoP:
			if err := checkProof(dpop, req, answer, token, g.jkt, now); err != nil {
				return err
			}
		case g.jkt != "":
			return errDPoPBoundAsBearer
		case dpop.required:
			return errDPoPRequired
		}
	}
	if certificates != nil {
		if g.x5t != "" && g.x5t != certificateThumbprint(req) {
			return errCertificateMismatch
		}
		if g.x5t == "" && certificates.required {
			return errNotCertificateBound
		}
	}
	return nil
}

// bindingDetail is what the rejection log says of a refused binding: the verified token's iss,
// sub and kid, and for a proof whose htu is not the request's, the htu withauth expected.
// logged: the route logs its refusals.
func bindingDetail(logged bool, dpop *dpopRule, req *http.Request, g *grant, err error) string {
	if !logged {
		return ""
	}
	if err == errDPoPURI {
		return g.verified + " expected_htu=" + strconv.Quote(expectedHTU(dpop, req))
	}
	return g.verified
}

// certificateThumbprint is the base64url SHA-256 of the DER of the connection's client
// certificate, "" without one. Only the TLS connection counts: no header is trusted for it.
func certificateThumbprint(req *http.Request) string {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(req.TLS.PeerCertificates[0].Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
