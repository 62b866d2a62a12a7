package withauth

// Compact JWS (RFC 7515) and registered claims (RFC 7519): parsing and checks, no I/O.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
)

// maxTokenBytes bounds the work spent on one token; Frontegg tokens with many permissions stay far below.
const maxTokenBytes = 64 << 10

// rawToken is a compact JWS split into its parts; nothing in it is trusted yet.
type rawToken struct {
	signingInput string
	payload      string
	signature    []byte
	alg          string
	kid          string
	typ          string
}

// parseToken splits a compact JWS and checks its header: alg must be one of accepted, which
// never holds none or an HMAC, so a public key can never double as a secret.
func parseToken(token string, accepted map[string]bool) (*rawToken, error) {
	if len(token) > maxTokenBytes {
		return nil, errTokenTooLarge
	}
	if dots := strings.Count(token, "."); dots != 2 {
		if dots == 4 {
			return nil, errEncrypted
		}
		return nil, errMalformed
	}
	// The decoder skips CR and LF; refusing them keeps one accepted spelling per token.
	if strings.ContainsAny(token, "\r\n") {
		return nil, errMalformed
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')

	headerJSON, err := decodeSegment(token[:first])
	if err != nil {
		return nil, errHeaderBase64
	}
	var header map[string]interface{}
	if err := json.Unmarshal(headerJSON, &header); err != nil || header == nil {
		return nil, errBadHeader
	}
	alg, _ := header["alg"].(string)
	if !accepted[alg] {
		return nil, errAlgorithm
	}
	if _, ok := header["crit"]; ok {
		return nil, errCritical
	}
	// A kid of another type is not treated as absent: that would select a JWKS's only key.
	kid, isString := header["kid"].(string)
	if _, present := header["kid"]; present && !isString {
		return nil, errKidType
	}

	typ, _ := header["typ"].(string)

	signature, err := decodeSegment(token[last+1:])
	if err != nil {
		return nil, errSignatureBase64
	}
	if len(signature) == 0 {
		return nil, errMalformed
	}
	return &rawToken{
		signingInput: token[:last],
		payload:      token[first+1 : last],
		signature:    signature,
		alg:          alg,
		kid:          kid,
		typ:          typ,
	}, nil
}

var segmentEncoding = base64.RawURLEncoding.Strict()

// decodeSegment decodes unpadded base64url, refusing padding, '+', '/', non-zero trailing bits,
// and CR and LF, which Go's decoders skip even in Strict mode: one accepted spelling per part.
func decodeSegment(segment string) ([]byte, error) {
	if strings.ContainsAny(segment, "\r\n") {
		return nil, errMalformed
	}
	return segmentEncoding.DecodeString(segment)
}

// decodeClaims decodes the payload of a token whose signature has been verified. Numbers stay
// json.Number, so that an id beyond 2^53 reaches the upstream with its own digits.
// Duplicate member names resolve to the last one, as RFC 7519 section 4 allows.
func decodeClaims(t *rawToken) (map[string]interface{}, error) {
	payload, err := decodeSegment(t.payload)
	if err != nil {
		return nil, errPayloadBase64
	}
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.UseNumber()
	var claims map[string]interface{}
	if err := decoder.Decode(&claims); err != nil || claims == nil {
		return nil, errBadClaims
	}
	// As json.Unmarshal would: nothing but white space may follow the object.
	if _, err := decoder.Token(); err != io.EOF {
		return nil, errBadClaims
	}
	// A number beyond a double's range (1e1000) is a json.Number here, with its digits, while an
	// upstream's decoder fails on it (Go) or reads Infinity (JavaScript): the upstream would not
	// read the claims withauth judged. Decoding again as doubles is the exact check, and compiled
	// code: about 6.5 µs, less than a regular expression (9 µs) or an interpreted walk.
	var asDoubles interface{}
	if json.Unmarshal(payload, &asDoubles) != nil {
		return nil, errNumberRange
	}
	return claims, nil
}

// numericDate reads a NumericDate claim (RFC 7519 section 2) as Unix seconds.
func numericDate(value interface{}) (float64, bool) {
	number, ok := value.(json.Number)
	if !ok {
		return 0, false
	}
	seconds, err := number.Float64()
	return seconds, err == nil
}

// claimRules are the registered-claim checks of one middleware, fixed in New.
type claimRules struct {
	issuer      string
	audiences   map[string]bool
	skewSeconds float64
	// maxAgeSeconds, when positive, bounds exp - iat (maxTokenAge); a token without iat fails.
	maxAgeSeconds float64
}

// validateClaims checks exp (required), nbf, iat, iss and aud at nowSeconds (Unix time).
// It returns the expiry, which bounds how long the verified token may be cached. One
// function, since under Yaegi a call costs more than the statements it saves.
func validateClaims(r *claimRules, claims map[string]interface{}, nowSeconds float64) (float64, error) {
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return 0, errNoExpiry
	}
	if nowSeconds > exp+r.skewSeconds {
		return 0, errExpired
	}
	latest := nowSeconds + r.skewSeconds
	if nbf, present := claims["nbf"]; present {
		if date, ok := numericDate(nbf); !ok {
			return 0, errBadTimeClaim
		} else if date > latest {
			return 0, errNotYetValid
		}
	}
	if iat, present := claims["iat"]; present {
		if date, ok := numericDate(iat); !ok {
			return 0, errBadTimeClaim
		} else if date > latest {
			return 0, errIssuedInFuture
		}
	}
	if r.maxAgeSeconds > 0 {
		iat, ok := numericDate(claims["iat"])
		if !ok || exp-iat > r.maxAgeSeconds {
			return 0, errTokenLifetime
		}
	}
	if r.issuer != "" {
		if iss, present := claims["iss"]; !present {
			return 0, errNoIssuer
		} else if iss != r.issuer {
			return 0, errIssuer
		}
	}
	if len(r.audiences) > 0 && !audienceMatches(r.audiences, claims["aud"]) {
		return 0, errAudience
	}
	return exp, nil
}

// audienceMatches accepts aud as a string or an array of strings (RFC 7519 section 4.1.3).
func audienceMatches(audiences map[string]bool, aud interface{}) bool {
	switch v := aud.(type) {
	case string:
		return audiences[v]
	case []interface{}:
		for _, item := range v {
			if s, ok := item.(string); ok && audiences[s] {
				return true
			}
		}
	}
	return false
}

// newTyps checks typ, normalized as RFC 7515 §4.1.9 compares media types.
func newTyps(values []string) (map[string]bool, error) {
	names, err := splitList("typ", values)
	if err != nil || names == nil {
		return nil, err
	}
	typs := make(map[string]bool, len(names))
	for _, name := range names {
		typs[mediaType(name)] = true
	}
	return typs, nil
}

// mediaType is a typ value compared as RFC 7515 §4.1.9 says: case-insensitive, "application/"
// optional (so at+jwt and application/at+jwt are one).
func mediaType(typ string) string {
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/")
}

// cacheExpiry turns exp plus clock skew (seconds) into Unix nanoseconds, clamping absurd values
// instead of overflowing.
func cacheExpiry(expSeconds, skewSeconds float64) int64 {
	const far = 1 << 62
	limit := (expSeconds + skewSeconds) * 1e9
	if limit > far {
		return far
	}
	return int64(limit)
}
