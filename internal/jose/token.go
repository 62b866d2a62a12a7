package jose

// Compact JWS (RFC 7515): splitting a token and reading its header; its claims (RFC 7519).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
)

// MaxTokenBytes bounds the work spent on one token; Frontegg tokens with many permissions stay
// far below.
const MaxTokenBytes = 64 << 10

// Token is a compact JWS split into its parts; nothing in it is trusted yet.
type Token struct {
	SigningInput string // header.payload, as signed
	Payload      string // the claims, base64url
	Signature    []byte
	Alg          string
	Kid          string
	Typ          string
}

// Parse splits a compact JWS and checks its header: alg must be one of accepted, which never
// holds none or an HMAC, so a public key can never double as a secret.
func Parse(token string, accepted map[string]bool) (*Token, error) {
	if len(token) > MaxTokenBytes {
		return nil, ErrTokenTooLarge
	}
	if dots := strings.Count(token, "."); dots != 2 {
		if dots == 4 {
			return nil, ErrEncrypted
		}
		return nil, ErrMalformed
	}
	// The decoder skips CR and LF; refusing them keeps one accepted spelling per token.
	if strings.ContainsAny(token, "\r\n") {
		return nil, ErrMalformed
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')

	headerJSON, err := DecodeSegment(token[:first])
	if err != nil {
		return nil, ErrHeaderBase64
	}
	var header map[string]interface{}
	if err := json.Unmarshal(headerJSON, &header); err != nil || header == nil {
		return nil, ErrBadHeader
	}
	alg, _ := header["alg"].(string)
	if !accepted[alg] {
		return nil, ErrAlgorithm
	}
	if _, ok := header["crit"]; ok {
		return nil, ErrCritical
	}
	// A kid of another type is not treated as absent: that would select a JWKS's only key.
	kid, isString := header["kid"].(string)
	if _, present := header["kid"]; present && !isString {
		return nil, ErrKidType
	}
	typ, _ := header["typ"].(string)

	signature, err := DecodeSegment(token[last+1:])
	if err != nil {
		return nil, ErrSignatureBase64
	}
	if len(signature) == 0 {
		return nil, ErrMalformed
	}
	return &Token{
		SigningInput: token[:last],
		Payload:      token[first+1 : last],
		Signature:    signature,
		Alg:          alg,
		Kid:          kid,
		Typ:          typ,
	}, nil
}

var segmentEncoding = base64.RawURLEncoding.Strict()

// DecodeSegment decodes unpadded base64url, refusing padding, '+', '/', non-zero trailing bits,
// and CR and LF, which Go's decoders skip even in Strict mode: one accepted spelling per part.
func DecodeSegment(segment string) ([]byte, error) {
	if strings.ContainsAny(segment, "\r\n") {
		return nil, ErrMalformed
	}
	return segmentEncoding.DecodeString(segment)
}

// DecodeClaims decodes the payload of a token whose signature has been verified. Numbers stay
// json.Number, so that an id beyond 2^53 reaches the upstream with its own digits. Duplicate
// member names resolve to the last one, as RFC 7519 section 4 allows.
func DecodeClaims(t *Token) (map[string]interface{}, error) {
	payload, err := DecodeSegment(t.Payload)
	if err != nil {
		return nil, ErrPayloadBase64
	}
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.UseNumber()
	var claims map[string]interface{}
	if err := decoder.Decode(&claims); err != nil || claims == nil {
		return nil, ErrBadClaims
	}
	// As json.Unmarshal would: nothing but white space may follow the object.
	if _, err := decoder.Token(); err != io.EOF {
		return nil, ErrBadClaims
	}
	// A number beyond a double's range (1e1000) is a json.Number here, with its digits, while an
	// upstream's decoder fails on it (Go) or reads Infinity (JavaScript): the upstream would not
	// read the claims withauth judged. Decoding again as doubles is the exact check, and compiled
	// code: about 6.5 µs, less than a regular expression (9 µs) or an interpreted walk.
	var asDoubles interface{}
	if json.Unmarshal(payload, &asDoubles) != nil {
		return nil, ErrNumberRange
	}
	return claims, nil
}

// Issuer reads iss from the payload of a token whose signature is not verified yet, so that a
// route trusting several issuers picks the one whose keys may verify it.
func Issuer(t *Token) (string, error) {
	payload, err := DecodeSegment(t.Payload)
	if err != nil {
		return "", ErrPayloadBase64
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", ErrBadClaims
	}
	return claims.Iss, nil
}

// MediaType is a typ value compared as RFC 7515 §4.1.9 says: case-insensitive, "application/"
// optional (so at+jwt and application/at+jwt are one).
func MediaType(typ string) string {
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/")
}
