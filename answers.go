package withauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

const realm = "withauth"

// Token errors: sentinels compared with ==, since errors.Is and errors.As do not work on
// interpreted error types under Yaegi. Their text is the error_description clients see.
var (
	errTokenTooLarge   = errors.New("the token is larger than 64 KiB")
	errMalformed       = errors.New("the token is not a compact JWS (three base64url parts)")
	errEncrypted       = errors.New("encrypted tokens (JWE) are not accepted")
	errBadHeader       = errors.New("the token header is not a JSON object")
	errAlgorithm       = errors.New("the token is not signed with RS256")
	errCritical        = errors.New("the token header lists critical extensions, which are not supported")
	errKidType         = errors.New("the token header kid is not a string")
	errBadSignature    = errors.New("the token signature is invalid")
	errBadClaims       = errors.New("the token claims are not a JSON object")
	errNoExpiry        = errors.New("the token has no numeric exp claim")
	errExpired         = errors.New("the token has expired")
	errNotYetValid     = errors.New("the token is not valid yet (nbf)")
	errIssuedInFuture  = errors.New("the token was issued in the future (iat)")
	errBadTimeClaim    = errors.New("the token has a non-numeric nbf or iat claim")
	errIssuer          = errors.New("the token issuer (iss) is not the expected one")
	errAudience        = errors.New("the token audience (aud) is not an expected one")
	errUnknownKey      = errors.New("the token is signed by an unknown key (kid)")
	errKeysUnavailable = errors.New("the signing keys could not be obtained yet; try again shortly")
)

var (
	errTokenType        = errors.New("the token type is not accepted in this header")
	errNoTokenType      = errors.New("the token has no Frontegg token type (type claim)")
	errAccessRevoked    = errors.New("the access token is not active")
	errCheckUnavailable = errors.New("the access token could not be checked with Frontegg; try again shortly")
	errAccessDisabled   = errors.New("access tokens are disabled for this Frontegg account")
)

// rejectToken answers a token that failed verification: 401, or 503 when it could not be
// verified for want of keys or of an answer from Frontegg.
func (m *Middleware) rejectToken(rw http.ResponseWriter, err error) {
	if err != errKeysUnavailable && err != errCheckUnavailable {
		writeChallenge(rw, http.StatusUnauthorized, "invalid_token", err.Error())
		return
	}
	wait := time.Second
	if err == errKeysUnavailable {
		if d := m.keys.retryAfter(); d > 0 {
			wait = d
		}
	}
	rw.Header().Set("Retry-After", strconv.FormatInt(int64(wait/time.Second)+1, 10))
	writeError(rw, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error(), "")
}

// writeChallenge answers with an RFC 6750 WWW-Authenticate challenge; code "" is the bare
// challenge for a request that carried no credentials.
func writeChallenge(rw http.ResponseWriter, status int, code, description string) {
	challenge := `Bearer realm="` + realm + `"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + description + `"`
	} else {
		code = "unauthorized"
		description = "a bearer token is required"
	}
	writeError(rw, status, code, description, challenge)
}

func writeError(rw http.ResponseWriter, status int, code, description, challenge string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	header := rw.Header()
	if challenge != "" {
		header.Set("WWW-Authenticate", challenge)
	}
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}
