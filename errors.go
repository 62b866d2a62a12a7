package withauth

// Every error a client can see and how it is answered, decided in one table; the answers are
// prepared once, when the package loads.

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// Every error a client can see, and how it is answered. They are sentinels compared with ==,
// since errors.Is and errors.As do not work on interpreted error types under Yaegi; their text
// is the error_description clients read.
var (
	// No credentials: 401 with the bare challenge.
	errNoCredentials = errors.New("a bearer token is required")
	// errNoDPoPCredentials is errNoCredentials on a route that accepts DPoP-bound tokens only.
	errNoDPoPCredentials = errors.New("a DPoP-bound token is required: send Authorization: DPoP <token>, with its proof in the DPoP header")

	// Credentials that are not one token: 400 invalid_request.
	errTwoAuthorization  = errors.New("more than one Authorization header")
	errNotOneBearerToken = errors.New("the Authorization header is not Bearer followed by one token")
	errTwoAPIKeys        = errors.New("more than one x-api-key header")
	errTwoTokenHeaders   = errors.New("more than one token header (tokenHeader)")
	errNotOneToken       = errors.New("the token header (tokenHeader) is not one token")
	errTwoQueryTokens    = errors.New("more than one token query parameter (tokenQueryParameter)")
	errTwoTokenCookies   = errors.New("more than one token cookie (tokenCookie)")
	errNotOneDPoPToken   = errors.New("the Authorization header is not DPoP followed by one token")

	// The token (internal/jose, keys): 401 invalid_token.
	errTokenTooLarge   = jose.ErrTokenTooLarge
	errMalformed       = jose.ErrMalformed
	errHeaderBase64    = jose.ErrHeaderBase64
	errPayloadBase64   = jose.ErrPayloadBase64
	errSignatureBase64 = jose.ErrSignatureBase64
	errEncrypted       = jose.ErrEncrypted
	errBadHeader       = jose.ErrBadHeader
	errAlgorithm       = jose.ErrAlgorithm
	errKeyAlgorithm    = jose.ErrKeyAlgorithm
	errCritical        = jose.ErrCritical
	errKidType         = jose.ErrKidType
	errBadSignature    = jose.ErrBadSignature
	errSignatureSize   = jose.ErrSignatureSize
	errBadClaims       = jose.ErrBadClaims
	errNumberRange     = jose.ErrNumberRange
	errNoExpiry        = jose.ErrNoExpiry
	errExpired         = jose.ErrExpired
	errNotYetValid     = jose.ErrNotYetValid
	errIssuedInFuture  = jose.ErrIssuedInFuture
	errBadTimeClaim    = jose.ErrBadTimeClaim
	errTokenLifetime   = jose.ErrTokenLifetime
	errIssuer          = jose.ErrIssuer
	errNoIssuer        = jose.ErrNoIssuer
	errAudience        = jose.ErrAudience
	errUnknownKey      = errors.New("the token is signed by an unknown key (kid)")
	errHeaderTyp       = errors.New("the token header's typ is not an accepted one")
	errAuthorized      = errors.New("the token's authorized party (azp, else client_id) is not an accepted one")

	// Frontegg's token rules (frontegg_tokens.go, frontegg_access.go): 401 invalid_token.
	errFronteggType   = errors.New("the token type is not accepted in this header")
	errNoFronteggType = errors.New("the token has no Frontegg token type (type claim)")
	errAccessRevoked  = errors.New("the access token is not active")

	// Introspection (introspection.go): 401 invalid_token for an inactive token, or one the
	// identity provider says is not an access token (a refresh token, RFC 7662 token_use or
	// token_type).
	errTokenInactive  = errors.New("the token is not active (the identity provider's introspection says so)")
	errNotAccessToken = errors.New("the token is not an access token (the identity provider's introspection says so in token_use or token_type)")
	errAccessDisabled = errors.New("access tokens are disabled for this Frontegg account")

	// Tokens bound to their client (binding.go): 401 invalid_token.
	errNotDPoPBound        = errors.New("the token is sent as DPoP but is not bound to a DPoP key (cnf.jkt)")
	errDPoPBoundAsBearer   = errors.New("the token is bound to a DPoP key: send it as Authorization: DPoP, with its proof")
	errDPoPRequired        = errors.New("this route accepts DPoP-bound tokens only, sent as Authorization: DPoP with their proof")
	errCertificateMismatch = errors.New("the token is bound to another TLS client certificate than this connection's (cnf x5t#S256)")
	errNotCertificateBound = errors.New("this route accepts tokens bound to the TLS client certificate only (cnf x5t#S256)")

	// DPoP proofs (dpop.go, replay.go): 401 invalid_dpop_proof, or use_dpop_nonce for a nonce,
	// each naming the part of the proof that failed.
	errDPoPProofMissing  = errors.New("a DPoP token needs exactly one DPoP header holding its proof")
	errDPoPProofInvalid  = jose.ErrProofInvalid
	errDPoPKeyMismatch   = jose.ErrProofKey
	errDPoPSignature     = jose.ErrProofSignature
	errDPoPNoJti         = jose.ErrProofNoJti
	errDPoPMethod        = jose.ErrProofMethod
	errDPoPURI           = errors.New("the DPoP proof's htu is not this request's URL (an origin of dpopOrigins and this path, without query)")
	errDPoPTokenHash     = jose.ErrProofTokenHash
	errDPoPProofStale    = jose.ErrProofStale
	errDPoPNonceMissing  = errors.New("the DPoP proof has no nonce: send the one in the DPoP-Nonce header")
	errDPoPNonceInvalid  = errors.New("the DPoP proof's nonce is not one this server issued, or has expired: send the one in the DPoP-Nonce header")
	errDPoPProofReplayed = errors.New("the DPoP proof was used before (its jti)")
	errDPoPKeyOverShare  = errors.New("this DPoP key has used more proofs than its share within dpopProofMaxAge; slow down")
	errReplayStoreDown   = errors.New("the store of used DPoP proofs (replayStore) cannot be reached, and a proof that cannot be recorded is not accepted; try again shortly")

	// A valid token without the step-up the route requires: 401 with RFC 9470's challenge.
	errStepUpRequired = errors.New("this route requires a stronger, or more recent, authentication")

	// A valid token without what the route requires: 403 insufficient_scope.
	errInsufficientScope = errors.New("the token lacks the roles or permissions this route requires")
	errClaimConditions   = errors.New("the token's claims do not meet this route's claimConditions")

	// Not decidable now: 503 temporarily_unavailable with Retry-After.
	errKeysUnavailable  = errors.New("the signing keys could not be obtained yet; try again shortly")
	errCheckUnavailable = errors.New("the access token could not be checked with Frontegg; try again shortly")
	// The introspection endpoint failed, or answered something else than RFC 7662's JSON.
	errIntrospectionUnavailable = errors.New("the token could not be introspected; try again shortly")
	// Every DPoP proof of the last dpopProofMaxAge is remembered, and there is no room for more.
	errProofStoreFull = errors.New("too many DPoP proofs to remember their use; try again shortly")
	// The issuer's discovery document names another issuer: a configuration mismatch, which
	// lasts until the route's issuer (or the provider) is fixed; both values are in the log.
	errIssuerMismatch = errors.New("configuration mismatch: the identity provider's discovery document names another issuer than the route's issuer setting (Traefik's log has both)")

	// A client past its share of what every client shares: 429 with Retry-After.
	errIntrospectionBusy = errors.New("this client has more tokens to introspect than its share of the identity provider's budget; try again shortly")

	// A bug in withauth (a recovered panic): 500 server_error, for that request alone.
	errInternal = errors.New("internal error in the authentication middleware")

	// A route whose configuration New refused: 500 server_error on every request. The reason
	// is in Traefik's log, never in the answer.
	errMisconfigured = errors.New("this route's authentication is misconfigured; its administrator can read why in Traefik's log")
)

// wraps reports whether err is target or wraps it (fmt.Errorf's %w), as errors.Is does, with
// the == comparison that holds under Yaegi.
func wraps(err, target error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err == target {
			return true
		}
	}
	return false
}

// refusalTable gives every error above its status and its stable reason code, which the JSON
// body carries beside error and rejection log lines print (the README lists them), so that a
// client developer can act on them. The OAuth error code, the challenge and the body are built
// from it.
var refusalTable = []struct {
	err    error
	status int
	reason string
}{
	{errNoCredentials, http.StatusUnauthorized, "no_credentials"},
	{errClaimConditions, http.StatusForbidden, "claim_conditions"},
	{errNoDPoPCredentials, http.StatusUnauthorized, "no_credentials"},
	{errTwoAuthorization, http.StatusBadRequest, "duplicate_credentials"},
	{errTwoAPIKeys, http.StatusBadRequest, "duplicate_credentials"},
	{errTwoTokenHeaders, http.StatusBadRequest, "duplicate_credentials"},
	{errTwoQueryTokens, http.StatusBadRequest, "duplicate_credentials"},
	{errTwoTokenCookies, http.StatusBadRequest, "duplicate_credentials"},
	{errNotOneBearerToken, http.StatusBadRequest, "malformed_credentials"},
	{errNotOneToken, http.StatusBadRequest, "malformed_credentials"},
	{errNotOneDPoPToken, http.StatusBadRequest, "malformed_credentials"},
	{errTokenTooLarge, http.StatusUnauthorized, "token_too_large"},
	{errMalformed, http.StatusUnauthorized, "malformed_token"},
	{errHeaderBase64, http.StatusUnauthorized, "malformed_token"},
	{errPayloadBase64, http.StatusUnauthorized, "malformed_token"},
	{errSignatureBase64, http.StatusUnauthorized, "malformed_token"},
	{errEncrypted, http.StatusUnauthorized, "malformed_token"},
	{errBadHeader, http.StatusUnauthorized, "malformed_token"},
	{errCritical, http.StatusUnauthorized, "malformed_token"},
	{errKidType, http.StatusUnauthorized, "malformed_token"},
	{errBadClaims, http.StatusUnauthorized, "malformed_token"},
	{errNumberRange, http.StatusUnauthorized, "malformed_token"},
	{errAlgorithm, http.StatusUnauthorized, "algorithm_not_accepted"},
	{errKeyAlgorithm, http.StatusUnauthorized, "algorithm_not_accepted"},
	{errBadSignature, http.StatusUnauthorized, "bad_signature"},
	{errSignatureSize, http.StatusUnauthorized, "bad_signature"},
	{errUnknownKey, http.StatusUnauthorized, "unknown_key"},
	{errNoExpiry, http.StatusUnauthorized, "no_expiry"},
	{errExpired, http.StatusUnauthorized, "expired"},
	{errNotYetValid, http.StatusUnauthorized, "not_yet_valid"},
	{errIssuedInFuture, http.StatusUnauthorized, "issued_in_future"},
	{errBadTimeClaim, http.StatusUnauthorized, "bad_time_claim"},
	{errTokenLifetime, http.StatusUnauthorized, "token_lifetime"},
	{errIssuer, http.StatusUnauthorized, "wrong_issuer"},
	{errNoIssuer, http.StatusUnauthorized, "missing_issuer"},
	{errAudience, http.StatusUnauthorized, "wrong_audience"},
	{errHeaderTyp, http.StatusUnauthorized, "wrong_typ"},
	{errAuthorized, http.StatusUnauthorized, "wrong_authorized_party"},
	{errFronteggType, http.StatusUnauthorized, "wrong_token_type"},
	{errNoFronteggType, http.StatusUnauthorized, "wrong_token_type"},
	{errAccessRevoked, http.StatusUnauthorized, "access_token_revoked"},
	{errAccessDisabled, http.StatusUnauthorized, "access_tokens_disabled"},
	{errTokenInactive, http.StatusUnauthorized, "inactive_token"},
	{errNotAccessToken, http.StatusUnauthorized, "wrong_token_type"},
	{errNotDPoPBound, http.StatusUnauthorized, "not_dpop_bound"},
	{errDPoPBoundAsBearer, http.StatusUnauthorized, "dpop_bound_as_bearer"},
	{errDPoPRequired, http.StatusUnauthorized, "dpop_required"},
	{errCertificateMismatch, http.StatusUnauthorized, "certificate_mismatch"},
	{errNotCertificateBound, http.StatusUnauthorized, "not_certificate_bound"},
	{errDPoPProofMissing, http.StatusUnauthorized, "dpop_proof_missing"},
	{errDPoPProofInvalid, http.StatusUnauthorized, "dpop_proof_invalid"},
	{errDPoPKeyMismatch, http.StatusUnauthorized, "dpop_key_mismatch"},
	{errDPoPSignature, http.StatusUnauthorized, "dpop_signature_invalid"},
	{errDPoPNoJti, http.StatusUnauthorized, "dpop_jti_missing"},
	{errDPoPMethod, http.StatusUnauthorized, "dpop_htm_mismatch"},
	{errDPoPURI, http.StatusUnauthorized, "dpop_htu_mismatch"},
	{errDPoPTokenHash, http.StatusUnauthorized, "dpop_ath_mismatch"},
	{errDPoPProofStale, http.StatusUnauthorized, "dpop_proof_stale"},
	{errDPoPNonceMissing, http.StatusUnauthorized, "dpop_nonce_missing"},
	{errDPoPNonceInvalid, http.StatusUnauthorized, "dpop_nonce_invalid"},
	{errDPoPProofReplayed, http.StatusUnauthorized, "dpop_proof_replayed"},
	{errDPoPKeyOverShare, http.StatusTooManyRequests, "dpop_key_over_share"},
	{errIntrospectionBusy, http.StatusTooManyRequests, "introspection_busy"},
	{errStepUpRequired, http.StatusUnauthorized, "step_up_required"},
	{errInsufficientScope, http.StatusForbidden, "insufficient_scope"},
	{errKeysUnavailable, http.StatusServiceUnavailable, "keys_unavailable"},
	{errCheckUnavailable, http.StatusServiceUnavailable, "check_unavailable"},
	{errIssuerMismatch, http.StatusServiceUnavailable, "issuer_mismatch"},
	{errIntrospectionUnavailable, http.StatusServiceUnavailable, "introspection_unavailable"},
	{errProofStoreFull, http.StatusServiceUnavailable, "dpop_store_full"},
	{errReplayStoreDown, http.StatusServiceUnavailable, "replay_store_unavailable"},
	{errInternal, http.StatusInternalServerError, "internal_error"},
	{errMisconfigured, http.StatusInternalServerError, "misconfigured"},
}

const realm = "withauth"

// dpopProofErrors are the refusals of a DPoP proof rather than of its token (RFC 9449 §7.1),
// with the error code of their DPoP challenge.
var dpopProofErrors = map[error]string{
	errDPoPProofMissing: "invalid_dpop_proof", errDPoPProofInvalid: "invalid_dpop_proof", errDPoPKeyMismatch: "invalid_dpop_proof",
	errDPoPSignature: "invalid_dpop_proof", errDPoPNoJti: "invalid_dpop_proof", errDPoPMethod: "invalid_dpop_proof",
	errDPoPURI: "invalid_dpop_proof", errDPoPTokenHash: "invalid_dpop_proof", errDPoPProofStale: "invalid_dpop_proof",
	errDPoPProofReplayed: "invalid_dpop_proof", errDPoPNonceMissing: "use_dpop_nonce", errDPoPNonceInvalid: "use_dpop_nonce",
}

// refusal is the answer to one error, prepared once for the package: only Retry-After and a
// route's step-up challenge are set per request.
type refusal struct {
	status    int
	reason    string
	challenge string
	body      []byte
	// perRoute: Retry-After or the route's step-up challenge is set (routeHeaders).
	perRoute bool
	// dpopError is the error code of a DPoP proof's refusal in the route's DPoP challenge.
	dpopError string
	// headers are the answer's own headers (Content-Type, Cache-Control, and the challenge unless
	// the route sets its own), as header values of one item (a slice full to its capacity, so
	// that appending to it never writes into the next answer's).
	headers      []string
	headerValues [][]string
}

var refusals = prepareRefusals()

func prepareRefusals() map[error]*refusal {
	prepared := make(map[error]*refusal, len(refusalTable))
	for _, row := range refusalTable {
		prepared[row.err] = prepareRefusal(row.err, row.status, row.reason)
	}
	return prepared
}

// prepareRefusal turns an error, its status and reason into an OAuth error code (RFC 6750), a
// challenge and a JSON body.
func prepareRefusal(err error, status int, reason string) *refusal {
	r := &refusal{status: status, reason: reason, dpopError: dpopProofErrors[err]}
	r.perRoute = err == errStepUpRequired || r.status == http.StatusServiceUnavailable || r.status == http.StatusTooManyRequests
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
	case r.status == http.StatusTooManyRequests:
		code = "too_many_requests"
		challenged = false
	case r.status == http.StatusInternalServerError:
		code = "server_error"
		challenged = false
	case err == errNoCredentials || err == errNoDPoPCredentials:
		code = "unauthorized"
		challenged = false
		r.challenge = `Bearer realm="` + realm + `"`
	case r.dpopError != "":
		// The route's DPoP challenge names its algorithms: refuse sets it.
		code = r.dpopError
		challenged = false
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
	r.headers = []string{"Content-Type", "Cache-Control"}
	r.headerValues = [][]string{{"application/json"}, {"no-store"}}
	if !r.perRoute && r.challenge != "" {
		r.headers = append(r.headers, "Www-Authenticate")
		r.headerValues = append(r.headerValues, []string{r.challenge})
	}
	return r
}

// writeRefusal writes a prepared refusal: its headers (its challenge too, unless the route sets
// its own), status and JSON body; assigned, not Set, as a request's forwarded headers are.
func writeRefusal(rw http.ResponseWriter, r *refusal) {
	header := rw.Header()
	for i, name := range r.headers {
		header[name] = r.headerValues[i][:1:1]
	}
	rw.WriteHeader(r.status)
	_, _ = rw.Write(r.body)
}

// writeRefusalBody writes a refusal's status and JSON body, its challenges already set.
func writeRefusalBody(rw http.ResponseWriter, r *refusal) {
	header := rw.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(r.status)
	_, _ = rw.Write(r.body)
}
