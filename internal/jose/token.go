package jose

// Compact JWS (RFC 7515): splitting a token and reading its header; its claims (RFC 7519).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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
	// Header is the header read, and Fresh tells that it was decoded from this token rather than
	// given as already known (so a caller may remember it once the signature verifies).
	Header *Header
	Fresh  bool
}

// Header is what verification reads of a JOSE header: a pure function of the header's text,
// so a header read once may stand for the same text in another token.
type Header struct {
	Alg string
	Kid string
	Typ string
}

// Parse splits a compact JWS and checks its header: alg must be one of accepted, which never
// holds none or an HMAC, so a public key can never double as a secret. known, when not nil,
// is this token's header read before (the caller looks it up by HeaderText); accepted is
// checked either way.
func Parse(token string, accepted map[string]bool, known *Header) (*Token, error) {
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
	header := known
	if header == nil {
		var err error
		if header, err = ParseHeader(token[:first], accepted); err != nil {
			return nil, err
		}
	} else if !accepted[header.Alg] {
		return nil, ErrAlgorithm
	}
	// The token holds no CR or LF: decoded without DecodeSegment's check, a call less.
	signature, err := segmentEncoding.DecodeString(token[last+1:])
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
		Alg:          header.Alg,
		Kid:          header.Kid,
		Typ:          header.Typ,
		Header:       header,
		Fresh:        known == nil,
	}, nil
}

// HeaderText is a compact JWS's first part, the header's text ("" when the token has no dot).
func HeaderText(token string) string {
	if first := strings.IndexByte(token, '.'); first > 0 {
		return token[:first]
	}
	return ""
}

// ParseHeader decodes a JOSE header (base64url JSON): alg one of accepted, no crit (no
// extension is understood), a kid that is a string when present.
func ParseHeader(segment string, accepted map[string]bool) (*Header, error) {
	headerJSON, err := DecodeSegment(segment)
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
	return &Header{Alg: alg, Kid: kid, Typ: typ}, nil
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
	// A number beyond a double's range (1e1000) would be a json.Number below, with its digits,
	// while an upstream's decoder fails on it (Go) or reads Infinity (JavaScript): the upstream
	// would not read the claims withauth judged. Decoding as doubles is the exact check, and
	// compiled code (about 6.5 µs, less than a regular expression or an interpreted walk); it
	// refuses what follows the object too, as json.Unmarshal does.
	var asDoubles interface{}
	if err := json.Unmarshal(payload, &asDoubles); err != nil {
		if _, isNumber := err.(*json.UnmarshalTypeError); isNumber {
			return nil, ErrNumberRange
		}
		return nil, ErrBadClaims
	}
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.UseNumber()
	var claims map[string]interface{}
	if err := decoder.Decode(&claims); err != nil || claims == nil {
		return nil, ErrBadClaims
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
