package withauth

// How a request withauth does not let through is answered: the prepared refusal of its error,
// a login redirect for browsers, the route's own headers, the rejection log.

import (
	"net/http"
	"strconv"
	"time"
)

// refuse answers a request withauth does not let through: the one place where an error
// becomes its prepared answer, a browser navigation is sent to loginUrl instead of a 401, and
// the refusal is logged (logRejections). detail is what the log may say of a verified token.
func refuse(m *Middleware, rw http.ResponseWriter, req *http.Request, err error, detail string) {
	if err == errNoCredentials && m.dpop != nil && m.dpop.required {
		err = errNoDPoPCredentials
	}
	r := refusals[err]
	if r == nil {
		r = refusals[errInternal] // a bug: every error has a row in refusalTable, as a test checks
	}
	if m.rejections != nil {
		m.rejections.record(req, r.status, r.reason, detail)
	}
	if m.loginURL != "" && r.status == http.StatusUnauthorized && isNavigation(req) {
		redirectToLogin(m, rw, req)
		return
	}
	if r.perRoute {
		routeHeaders(m, rw.Header(), r, err)
	}
	if m.dpop != nil && r.status == http.StatusUnauthorized && !r.perRoute {
		dpopChallenges(m.dpop, rw.Header(), r, err, m.now())
		writeRefusalBody(rw, r)
		return
	}
	writeRefusal(rw, r)
}

// dpopChallenges are a DPoP route's challenges (RFC 9449 §7.1): DPoP, naming the accepted
// algorithms and the error (invalid_dpop_proof or use_dpop_nonce for the proof itself), after
// Bearer's when Bearer tokens are also accepted (dpop allowed). With nonces, every 401 offers
// one (RFC 9449 §9), so that a client need not fail once to learn it.
func dpopChallenges(rule *dpopRule, header http.Header, r *refusal, err error, now time.Time) {
	if !rule.required && r.dpopError == "" && r.challenge != "" {
		header.Add("WWW-Authenticate", r.challenge)
	}
	challenge := `DPoP algs="` + rule.algs + `"`
	switch {
	case r.dpopError != "":
		challenge += `, error="` + r.dpopError + `", error_description="` + err.Error() + `"`
	case err != errNoCredentials && err != errNoDPoPCredentials:
		challenge += `, error="invalid_token", error_description="` + err.Error() + `"`
	}
	header.Add("WWW-Authenticate", challenge)
	if rule.nonces != nil {
		header.Set("DPoP-Nonce", rule.nonces.issue(now))
	}
}

// redirectToLogin sends a browser navigation to loginUrl instead of a 401.
func redirectToLogin(m *Middleware, rw http.ResponseWriter, req *http.Request) {
	header := rw.Header()
	header.Set("Location", loginLocation(m.loginURL, req, m.sources.query))
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusFound)
}

// routeHeaders sets what a refusal says per route: the route's step-up challenge, or
// Retry-After.
func routeHeaders(m *Middleware, header http.Header, r *refusal, err error) {
	challenge := r.challenge
	if err == errStepUpRequired {
		challenge = m.stepUp.challenge
	}
	if challenge != "" {
		header.Set("WWW-Authenticate", challenge)
	}
	if r.status == http.StatusServiceUnavailable || r.status == http.StatusTooManyRequests {
		header.Set("Retry-After", retryAfterSeconds(m, err))
	}
}

// retryAfterSeconds is how long a client should wait: until the next key fetch when the keys
// are missing (or the issuer mismatched), else a second; rounded up.
func retryAfterSeconds(m *Middleware, err error) string {
	wait := time.Second
	if err == errKeysUnavailable || err == errIssuerMismatch {
		if d := m.trust.retryAfter(); d > 0 {
			wait = d
		}
	}
	return strconv.FormatInt(int64(wait/time.Second)+1, 10)
}
