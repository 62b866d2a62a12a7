// Package jose is withauth's token core: compact JWS (RFC 7515), JWT claims (RFC 7519), JWA
// algorithms (RFC 7518, RFC 8037), JSON Web Keys and key sets (RFC 7517), thumbprints (RFC 7638)
// and DPoP proofs (RFC 9449). It does no I/O, reads no configuration, logs nothing, holds no
// lock and no mutable state: values in, a verdict out. Every error it returns is one of the
// sentinels below, compared with == (errors.Is fails on interpreted error types under Yaegi).
package jose

import "errors"

// The token.
var (
	ErrTokenTooLarge   = errors.New("the token is larger than 64 KiB")
	ErrMalformed       = errors.New("the token is not a compact JWS (three base64url parts)")
	ErrHeaderBase64    = errors.New("the token's first part (its header) is not unpadded base64url")
	ErrPayloadBase64   = errors.New("the token's second part (its claims) is not unpadded base64url")
	ErrSignatureBase64 = errors.New("the token's third part (its signature) is not unpadded base64url")
	ErrEncrypted       = errors.New("encrypted tokens (JWE) are not accepted")
	ErrBadHeader       = errors.New("the token header is not a JSON object")
	ErrAlgorithm       = errors.New("the token is not signed with an accepted algorithm (algorithms)")
	ErrKeyAlgorithm    = errors.New("the token's algorithm is not one its key may verify")
	ErrCritical        = errors.New("the token header lists critical extensions, which are not supported")
	ErrKidType         = errors.New("the token header kid is not a string")
	ErrBadSignature    = errors.New("the token signature is invalid")
	ErrSignatureSize   = errors.New("the token signature is not of the size its algorithm and key make")
	ErrBadClaims       = errors.New("the token claims are not a JSON object")
	ErrNumberRange     = errors.New("the token claims hold a number beyond the range of a double (IEEE 754), which JSON decoders read differently")
)

// The registered claims.
var (
	ErrNoExpiry       = errors.New("the token has no numeric exp claim")
	ErrExpired        = errors.New("the token has expired")
	ErrNotYetValid    = errors.New("the token is not valid yet (nbf)")
	ErrIssuedInFuture = errors.New("the token was issued in the future (iat)")
	ErrBadTimeClaim   = errors.New("the token has a non-numeric nbf or iat claim")
	ErrTokenLifetime  = errors.New("the token lives longer than this route accepts (exp - iat beyond maxTokenAge), or has no iat")
	ErrIssuer         = errors.New("the token issuer (iss) is not the expected one")
	ErrNoIssuer       = errors.New("the token has no issuer (iss), and this route expects one (issuer)")
	ErrAudience       = errors.New("the token audience (aud) is not an expected one")
)

// DPoP proofs, each naming the part of the proof that failed.
var (
	ErrProofInvalid   = errors.New("the DPoP proof is not a compact JWS whose header is typ dpop+jwt with an accepted alg and a public jwk (RSA of 2048 to 4096 bits with e 65537, EC P-256, P-384 or P-521, Ed25519)")
	ErrProofKey       = errors.New("the DPoP proof's jwk is another key than the one the token is bound to (cnf.jkt)")
	ErrProofSignature = errors.New("the DPoP proof's signature does not verify with its jwk")
	ErrProofNoJti     = errors.New("the DPoP proof has no jti")
	ErrProofMethod    = errors.New("the DPoP proof's htm is not this request's method")
	ErrProofTokenHash = errors.New("the DPoP proof's ath is not the SHA-256 of this token")
	ErrProofStale     = errors.New("the DPoP proof's iat is older than dpopProofMaxAge, or more than 5 s in the future")
)
