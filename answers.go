package withauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Every error a client can see, and how it is answered. They are sentinels compared with ==,
// since errors.Is and errors.As do not work on interpreted error types under Yaegi; their text
// is the error_description clients read.
var (
	// No credentials: 401 with the bare challenge.
	errNoCredentials = errors.New("a bearer token is required")

	// Credentials that are not one token: 400 invalid_request.
	errTwoAuthorization  = errors.New("more than one Authorization header")
	errNotOneBearerToken = errors.New("the Authorization header is not Bearer followed by one token")
	errTwoAPIKeys        = errors.New("more than one x-api-key header")
	errTwoTokenHeaders   = errors.New("more than one token header (tokenHeader)")
	errNotOneToken       = errors.New("the token header (tokenHeader) is not one token")
	errTwoQueryTokens    = errors.New("more than one token query parameter (tokenQueryParameter)")
	errTwoTokenCookies   = errors.New("more than one token cookie (tokenCookie)")

	// The token (jwt.go, keys): 401 invalid_token.
	errTokenTooLarge  = errors.New("the token is larger than 64 KiB")
	errMalformed      = errors.New("the token is not a compact JWS (three base64url parts)")
	errEncrypted      = errors.New("encrypted tokens (JWE) are not accepted")
	errBadHeader      = errors.New("the token header is not a JSON object")
	errAlgorithm      = errors.New("the token is not signed with an accepted algorithm (algorithms)")
	errKeyAlgorithm   = errors.New("the token's algorithm is not one its key may verify")
	errCritical       = errors.New("the token header lists critical extensions, which are not supported")
	errKidType        = errors.New("the token header kid is not a string")
	errBadSignature   = errors.New("the token signature is invalid")
	errBadClaims      = errors.New("the token claims are not a JSON object")
	errNumberRange    = errors.New("the token claims hold a number beyond the range of a double (IEEE 754), which JSON decoders read differently")
	errNoExpiry       = errors.New("the token has no numeric exp claim")
	errExpired        = errors.New("the token has expired")
	errNotYetValid    = errors.New("the token is not valid yet (nbf)")
	errIssuedInFuture = errors.New("the token was issued in the future (iat)")
	errBadTimeClaim   = errors.New("the token has a non-numeric nbf or iat claim")
	errIssuer         = errors.New("the token issuer (iss) is not the expected one")
	errAudience       = errors.New("the token audience (aud) is not an expected one")
	errUnknownKey     = errors.New("the token is signed by an unknown key (kid)")
	errTokenTyp       = errors.New("the token header's typ is not an accepted one")
	errAuthorized     = errors.New("the token's authorized party (azp, else client_id) is not an accepted one")

	// Frontegg's token rules (frontegg_tokens.go, frontegg_access.go): 401 invalid_token.
	errTokenType      = errors.New("the token type is not accepted in this header")
	errNoTokenType    = errors.New("the token has no Frontegg token type (type claim)")
	errAccessRevoked  = errors.New("the access token is not active")
	errAccessDisabled = errors.New("access tokens are disabled for this Frontegg account")

	// A valid token without the step-up the route requires: 401 with RFC 9470's challenge.
	errStepUpRequired = errors.New("this route requires a stronger, or more recent, authentication")

	// A valid token without what the route requires: 403 insufficient_scope.
	errInsufficientScope = errors.New("the token lacks the roles or permissions this route requires")

	// Not decidable now: 503 temporarily_unavailable with Retry-After.
	errKeysUnavailable  = errors.New("the signing keys could not be obtained yet; try again shortly")
	errCheckUnavailable = errors.New("the access token could not be checked with Frontegg; try again shortly")

	// A bug in withauth (a recovered panic): 500 server_error, for that request alone.
	errInternal = errors.New("internal error in the authentication middleware")

	// A route whose configuration New refused: 500 server_error on every request. The reason
	// is in Traefik's log, never in the answer.
	errMisconfigured = errors.New("this route's authentication is misconfigured; its administrator can read why in Traefik's log")
)

// reasons are the stable codes of the refusals, in the JSON body beside error and in
// rejection log lines (the README lists them), so that a client developer can act on them.
var reasons = map[error]string{
	errNoCredentials:     "no_credentials",
	errTwoAuthorization:  "duplicate_credentials",
	errTwoAPIKeys:        "duplicate_credentials",
	errTwoTokenHeaders:   "duplicate_credentials",
	errTwoQueryTokens:    "duplicate_credentials",
	errTwoTokenCookies:   "duplicate_credentials",
	errNotOneBearerToken: "malformed_credentials",
	errNotOneToken:       "malformed_credentials",
	errTokenTooLarge:     "token_too_large",
	errMalformed:         "malformed_token",
	errEncrypted:         "malformed_token",
	errBadHeader:         "malformed_token",
	errCritical:          "malformed_token",
	errKidType:           "malformed_token",
	errBadClaims:         "malformed_token",
	errNumberRange:       "malformed_token",
	errAlgorithm:         "algorithm_not_accepted",
	errKeyAlgorithm:      "algorithm_not_accepted",
	errBadSignature:      "bad_signature",
	errUnknownKey:        "unknown_key",
	errNoExpiry:          "no_expiry",
	errExpired:           "expired",
	errNotYetValid:       "not_yet_valid",
	errIssuedInFuture:    "issued_in_future",
	errBadTimeClaim:      "bad_time_claim",
	errIssuer:            "wrong_issuer",
	errAudience:          "wrong_audience",
	errTokenTyp:          "wrong_typ",
	errAuthorized:        "wrong_authorized_party",
	errTokenType:         "wrong_token_type",
	errNoTokenType:       "wrong_token_type",
	errAccessRevoked:     "access_token_revoked",
	errAccessDisabled:    "access_tokens_disabled",
	errStepUpRequired:    "step_up_required",
	errInsufficientScope: "insufficient_scope",
	errKeysUnavailable:   "keys_unavailable",
	errCheckUnavailable:  "check_unavailable",
	errInternal:          "internal_error",
	errMisconfigured:     "misconfigured",
}

const realm = "withauth"

// refusal is the answer to one error, prepared once for the package: only Retry-After and a
// route's step-up challenge are set per request.
type refusal struct {
	status    int
	reason    string
	challenge string
	body      []byte
	// perRoute: Retry-After or the route's step-up challenge is set (routeHeaders).
	perRoute bool
}

var refusals = prepareRefusals()

func prepareRefusals() map[error]*refusal {
	prepared := make(map[error]*refusal, len(reasons))
	for err, reason := range reasons {
		prepared[err] = prepareRefusal(err, reason)
	}
	return prepared
}

// prepareRefusal turns an error into a status, an OAuth error code (RFC 6750), a challenge
// and a JSON body.
func prepareRefusal(err error, reason string) *refusal {
	r := &refusal{status: refusalStatus(err), reason: reason}
	r.perRoute = err == errStepUpRequired || r.status == http.StatusServiceUnavailable
	code := "invalid_token"
	challenged := true
	switch {
	case r.status == http.StatusBadRequest:
		code = "invalid_request"
	case r.status == http.StatusForbidden:
		code = "insufficient_scope"
	case r.status == http.StatusServiceUnavailable:
		code = "temporarily_unavailable"
		challenged = false
	case r.status == http.StatusInternalServerError:
		code = "server_error"
		challenged = false
	case err == errNoCredentials:
		code = "unauthorized"
		challenged = false
		r.challenge = `Bearer realm="` + realm + `"`
	case err == errStepUpRequired:
		// The challenge names the route's acr_values and max_age: refuse sets it.
		code = "insufficient_user_authentication"
		challenged = false
	}
	if challenged {
		r.challenge = `Bearer realm="` + realm + `", error="` + code + `", error_description="` + err.Error() + `"`
	}
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": err.Error(), "reason": reason})
	r.body = body
	return r
}

// refuse answers a request withauth does not let through: the one place where an error
// becomes its prepared answer, a browser navigation is sent to loginUrl instead of a 401, and
// the refusal is logged (logRejections). detail is what the log may say of a verified token.
func refuse(m *Middleware, rw http.ResponseWriter, req *http.Request, err error, detail string) {
	r := refusals[err]
	if r == nil {
		r = prepareRefusal(err, "")
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
	writeRefusal(rw, r)
}

// writeRefusal writes a prepared refusal: its challenge (unless the route set its own), status
// and JSON body.
func writeRefusal(rw http.ResponseWriter, r *refusal) {
	header := rw.Header()
	if !r.perRoute && r.challenge != "" {
		header.Set("WWW-Authenticate", r.challenge)
	}
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(r.status)
	_, _ = rw.Write(r.body)
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
	if r.status == http.StatusServiceUnavailable {
		header.Set("Retry-After", retryAfterSeconds(m, err))
	}
}

// retryAfterSeconds is how long a client should wait: until the next key fetch when the keys
// are missing, else a second; rounded up.
func retryAfterSeconds(m *Middleware, err error) string {
	wait := time.Second
	if err == errKeysUnavailable {
		if d := m.trust.retryAfter(); d > 0 {
			wait = d
		}
	}
	return strconv.FormatInt(int64(wait/time.Second)+1, 10)
}

// refusalStatus is the HTTP status of a refusal.
func refusalStatus(err error) int {
	switch err {
	case errTwoAuthorization, errNotOneBearerToken, errTwoAPIKeys, errTwoTokenHeaders, errNotOneToken, errTwoQueryTokens, errTwoTokenCookies:
		return http.StatusBadRequest
	case errInsufficientScope:
		return http.StatusForbidden
	case errKeysUnavailable, errCheckUnavailable:
		return http.StatusServiceUnavailable
	case errInternal, errMisconfigured:
		return http.StatusInternalServerError
	}
	return http.StatusUnauthorized
}
