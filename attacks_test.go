package withauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The attack battery: forged and malformed tokens and requests, one named case each. Every
// one must be answered 401 (400 for a malformed request), never 5xx, and never reach the
// upstream; checkAnswer asserts all three.

// refused is the expected answer to a forged token.
func refused(name string, token func(testing.TB) string, detail string) tokenCase {
	return tokenCase{name: name, token: token, wantStatus: 401, wantError: "invalid_token", wantDetail: detail}
}

// rawSigned signs raw header and claims JSON text with key-1.
func rawSigned(headerJSON string, claims func(testing.TB) string) func(testing.TB) string {
	return func(t testing.TB) string {
		return signRaw(t, privateKey(t, "key-1"), headerJSON, claims(t))
	}
}

// fixtureClaims is the fixture's claims as JSON text, valid for an hour, with changes applied.
func fixtureClaims(changes map[string]interface{}) func(testing.TB) string {
	return func(t testing.TB) string { return claimsText(t, changes) }
}

// hmacSigned is a token whose header names alg (HS256, HS384 or HS512) and whose signature is
// an HMAC keyed with secret: the key-confusion forgery.
func hmacSigned(t testing.TB, alg, kid string, secret []byte) string {
	t.Helper()
	input := segment(t, map[string]string{"alg": alg, "typ": "JWT", "kid": kid}) + "." + segment(t, userClaims(t, nil))
	var newHash func() hash.Hash
	switch alg {
	case "HS384":
		newHash = sha512.New384
	case "HS512":
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// publicKeySecrets are the spellings of key-1's public key an attacker would try as an HMAC secret.
func publicKeySecrets(t testing.TB) []namedBytes {
	key := privateKey(t, "key-1")
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("encoding key-1 as PKIX: %v", err)
	}
	jwk := jwkOf(&key.PublicKey, "key-1")
	jwkJSON, err := json.Marshal(jwk)
	if err != nil {
		t.Fatalf("encoding key-1 as a JWK: %v", err)
	}
	pemText := readFixture(t, "keys/key-1.pub.pem")
	n, _ := jwk["n"].(string)
	return []namedBytes{
		{name: "the PEM public key", value: pemText},
		{name: "the PEM without its final newline", value: bytes.TrimSpace(pemText)},
		{name: "the PKIX DER public key", value: der},
		{name: "the PKCS1 DER public key", value: x509.MarshalPKCS1PublicKey(&key.PublicKey)},
		{name: "the JWK n as text", value: []byte(n)},
		{name: "the modulus bytes", value: key.N.Bytes()},
		{name: "the JWK as JSON", value: jwkJSON},
	}
}

type namedBytes struct {
	name  string
	value []byte
}

func TestAttacksOnTheAlgorithm(t *testing.T) {
	validParts := func(t testing.TB) []string { return strings.Split(validToken(t), ".") }
	var cases []tokenCase
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		alg := alg
		cases = append(cases,
			refused("alg "+alg+", empty signature", func(t testing.TB) string {
				return segment(t, map[string]string{"alg": alg, "typ": "JWT"}) + "." + segment(t, userClaims(t, nil)) + "."
			}, "not signed with RS256"),
			refused("alg "+alg+", a valid RS256 signature of another header", func(t testing.TB) string {
				parts := validParts(t)
				return segment(t, map[string]string{"alg": alg, "kid": "key-1"}) + "." + parts[1] + "." + parts[2]
			}, "not signed with RS256"),
			refused("alg "+alg+", header signed with RS256 by key-1", rawSigned(`{"alg":"`+alg+`","kid":"key-1"}`, fixtureClaims(nil)), "not signed with RS256"),
		)
	}
	for _, header := range []string{
		`{"alg":"rs256","kid":"key-1"}`, `{"alg":"RS256 ","kid":"key-1"}`, `{"alg":"RS384","kid":"key-1"}`,
		`{"alg":"RS512","kid":"key-1"}`, `{"alg":"PS256","kid":"key-1"}`, `{"alg":"ES256","kid":"key-1"}`,
		`{"kid":"key-1"}`, `{"alg":null,"kid":"key-1"}`, `{"alg":["RS256"],"kid":"key-1"}`, `{"alg":{"name":"RS256"},"kid":"key-1"}`,
	} {
		cases = append(cases, refused("header "+header+" signed by key-1", rawSigned(header, fixtureClaims(nil)), "not signed with RS256"))
	}
	runTokenCases(t, pemConfig, cases)
}

func TestAttacksKeyConfusion(t *testing.T) {
	var cases []tokenCase
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for _, secret := range publicKeySecrets(t) {
			alg, secret := alg, secret
			cases = append(cases, refused(alg+" keyed with "+secret.name, func(t testing.TB) string {
				return hmacSigned(t, alg, "key-1", secret.value)
			}, "not signed with RS256"))
		}
	}
	// The header claims RS256 but the signature is an HMAC: the RSA check refuses it.
	for _, secret := range publicKeySecrets(t) {
		secret := secret
		cases = append(cases, refused("RS256 header with an HMAC-SHA256 keyed with "+secret.name, func(t testing.TB) string {
			input := segment(t, rs256Header("key-1")) + "." + segment(t, userClaims(t, nil))
			mac := hmac.New(sha256.New, secret.value)
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}, "signature is invalid"))
	}
	t.Run("PEM key", func(t *testing.T) { runTokenCases(t, pemConfig, cases) })
	server := newJWKSServer(t)
	t.Run("JWKS", func(t *testing.T) {
		runTokenCases(t, func(t testing.TB) *Config { return jwksConfig(server) }, cases)
	})
}

func TestAttacksWithDuplicateMemberNames(t *testing.T) {
	now := time.Now().Unix()
	past := strconv.FormatInt(now-3600, 10)
	claims := fixtureClaims(nil)
	withIssuer := func(c *Config) { c.Issuer = "https://app-demo.frontegg.com" }
	// RFC 7519 section 4: duplicate names are refused or the last one wins; withauth takes the
	// last one, in the header and in the claims alike, so the signed bytes mean one thing.
	runTokenCases(t, pemConfig, []tokenCase{
		{name: `header {"alg":"none","alg":"RS256"} properly signed is RS256`, token: rawSigned(`{"alg":"none","alg":"RS256","kid":"key-1"}`, claims), wantStatus: 200},
		refused(`header {"alg":"RS256","alg":"none"} properly signed is refused`, rawSigned(`{"alg":"RS256","alg":"none","kid":"key-1"}`, claims), "not signed with RS256"),
		refused(`header {"alg":"RS256","alg":"HS256"} properly signed is refused`, rawSigned(`{"alg":"RS256","alg":"HS256","kid":"key-1"}`, claims), "not signed with RS256"),
		{name: `escaped name: {"\u0061lg":"RS256"} is alg`, token: rawSigned(`{"\u0061lg":"RS256","kid":"key-1"}`, claims), wantStatus: 200},
		refused(`escaped duplicate: {"alg":"RS256","\u0061lg":"none"} is refused`, rawSigned(`{"alg":"RS256","\u0061lg":"none","kid":"key-1"}`, claims), "not signed with RS256"),
		{name: `names are case-sensitive: {"ALG":"none","alg":"RS256"} is RS256`, token: rawSigned(`{"ALG":"none","alg":"RS256","kid":"key-1"}`, claims), wantStatus: 200},
		refused(`names are case-sensitive: {"ALG":"RS256"} has no alg`, rawSigned(`{"ALG":"RS256","kid":"key-1"}`, claims), "not signed with RS256"),
		refused(`header {"crit":[],"crit":null} still lists crit`, rawSigned(`{"alg":"RS256","crit":["b64"],"crit":null,"kid":"key-1"}`, claims), "critical"),

		{name: "exp twice, the later one valid", token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, prependMembers(claimsText(t, nil), `"exp":`+past))
		}, wantStatus: 200},
		refused("exp twice, the later one past", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"exp":`+past))
		}, "expired"),
		refused("EXP in capitals is not exp", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{"exp": nil}), `"EXP":`+strconv.FormatInt(now+3600, 10)))
		}, "no numeric exp"),
		{name: "roles twice, the later one has admin", config: func(c *Config) { c.Roles = []string{"admin"} }, token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, prependMembers(claimsText(t, nil), `"roles":["read-only"]`))
		}, wantStatus: 200},
		{name: "roles twice, the later one lacks admin", config: func(c *Config) { c.Roles = []string{"admin"} }, token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"roles":["read-only"]`))
		}, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "Roles in capitals is not roles", config: func(c *Config) { c.Roles = []string{"owner"} }, token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"Roles":["owner"]`))
		}, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "sub twice, the later one is forwarded", token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"sub":"the-later-sub"`))
		}, wantStatus: 200, wantForward: map[string]string{"X-User-Id": "the-later-sub"}},
		{name: "iss twice, the later one expected", config: withIssuer, token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, prependMembers(claimsText(t, nil), `"iss":"https://evil.example"`))
		}, wantStatus: 200},
		{name: "iss twice, the later one foreign", config: withIssuer, token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"iss":"https://evil.example"`))
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "issuer"},
	})

	server := newJWKSServer(t)
	runTokenCases(t, func(t testing.TB) *Config { return jwksConfig(server) }, []tokenCase{
		{name: "kid twice, the later one names the signer", token: rawSigned(`{"alg":"RS256","kid":"key-2","kid":"key-1"}`, claims), wantStatus: 200},
		refused("kid twice, the later one names another key", rawSigned(`{"alg":"RS256","kid":"key-1","kid":"key-2"}`, claims), "signature is invalid"),
	})
}

// padded spells a base64url segment with "=" padding.
func padded(segment string) string {
	if n := len(segment) % 4; n != 0 {
		return segment + strings.Repeat("=", 4-n)
	}
	return segment
}

// withTrailingBits flips an unused low bit of a segment's last character: the same bytes
// to a lenient decoder, a second spelling of the token to a strict one.
func withTrailingBits(t testing.TB, segment string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(segment)%4 == 0 {
		t.Fatalf("segment of %d characters has no unused bits", len(segment))
	}
	last := strings.IndexByte(alphabet, segment[len(segment)-1])
	changed := segment[:len(segment)-1] + string(alphabet[last^1])
	want, err1 := base64.RawURLEncoding.DecodeString(segment)
	got, err2 := base64.RawURLEncoding.DecodeString(changed)
	if err1 != nil || err2 != nil || !bytes.Equal(want, got) {
		t.Fatalf("test bug: %q and %q should decode alike leniently", segment, changed)
	}
	return changed
}

// signatureWith returns a valid token whose signature contains one of chars, re-signing with
// other claims until it does (each character misses with probability (62/64)^342).
func signatureWith(t testing.TB, chars string) []string {
	for i := 0; i < 20; i++ {
		parts := strings.Split(tokenWith(map[string]interface{}{"name": "Ada " + strconv.Itoa(i)})(t), ".")
		if strings.ContainsAny(parts[2], chars) {
			return parts
		}
	}
	t.Fatalf("no signature containing any of %q in 20 tries", chars)
	return nil
}

func TestAttacksOnTheEncoding(t *testing.T) {
	parts := func(t testing.TB) []string { return strings.Split(validToken(t), ".") }
	runTokenCases(t, pemConfig, []tokenCase{
		refused("signature with base64 padding", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "." + padded(p[2])
		}, "not a compact JWS"),
		refused("every segment with base64 padding", func(t testing.TB) string {
			p := parts(t)
			return padded(p[0]) + "." + padded(p[1]) + "." + padded(p[2])
		}, "not a compact JWS"),
		refused("standard base64 alphabet (+ and /)", func(t testing.TB) string {
			p := signatureWith(t, "-_")
			std := strings.NewReplacer("-", "+", "_", "/").Replace(p[2])
			return p[0] + "." + p[1] + "." + std
		}, "not a compact JWS"),
		refused("non-zero trailing bits in the signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "." + withTrailingBits(t, p[2])
		}, "not a compact JWS"),
		refused("non-zero trailing bits in the header", func(t testing.TB) string {
			// {"alg":"RS256","kid":"key-1"} is 29 bytes: 39 characters, 2 unused bits.
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"key-1"}`))
			input := withTrailingBits(t, header) + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsText(t, nil)))
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, "not a compact JWS"),
		refused("line feed inside the signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "." + p[2][:100] + "\n" + p[2][100:]
		}, "not a compact JWS"),
		refused("carriage return and line feed at the end", func(t testing.TB) string { return validToken(t) + "\r\n" }, "not a compact JWS"),
		refused("tab inside the header", func(t testing.TB) string {
			p := parts(t)
			return p[0][:10] + "\t" + p[0][10:] + "." + p[1] + "." + p[2]
		}, "not a compact JWS"),
		// The payload is decoded only once the signature over its exact bytes holds.
		refused("tab inside the payload", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1][:10] + "\t" + p[1][10:] + "." + p[2]
		}, "signature is invalid"),
		refused("payload with == padding, signed as such", func(t testing.TB) string {
			p := parts(t)
			input := p[0] + "." + p[1] + "=="
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, "not a compact JWS"),
		refused("payload in the standard alphabet, signed as such", func(t testing.TB) string {
			claims := claimsText(t, map[string]interface{}{"name": "\u00fb\u00ff\u00fe"})
			input := segment(t, rs256Header("key-1")) + "." + base64.RawStdEncoding.EncodeToString([]byte(claims))
			if !strings.ContainsAny(input, "+/") {
				t.Fatalf("test bug: %q has neither + nor /", input)
			}
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, "not a compact JWS"),
		{name: "space inside the token", token: func(t testing.TB) string {
			p := parts(t)
			return p[0] + ". " + p[1] + "." + p[2]
		}, wantStatus: 400, wantError: "invalid_request"},
		refused("empty signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "."
		}, "not a compact JWS"),
		refused("signature with a leading zero byte", func(t testing.TB) string {
			p := parts(t)
			signature, _ := base64.RawURLEncoding.DecodeString(p[2])
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(append([]byte{0}, signature...))
		}, "signature is invalid"),
		refused("signature plus the modulus (the same value mod n)", func(t testing.TB) string {
			p := parts(t)
			signature, _ := base64.RawURLEncoding.DecodeString(p[2])
			s := new(big.Int).SetBytes(signature)
			s.Add(s, privateKey(t, "key-1").N)
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(s.FillBytes(make([]byte, 257))[1:])
		}, "signature is invalid"),
		refused("four parts", func(t testing.TB) string { return validToken(t) + ".AAAA" }, "not a compact JWS"),
		refused("a trailing dot", func(t testing.TB) string { return validToken(t) + "." }, "not a compact JWS"),
		refused("a leading dot", func(t testing.TB) string { return "." + validToken(t) }, "not a compact JWS"),
		refused("two parts", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1]
		}, "not a compact JWS"),

		// Trailing data after the JSON, properly signed: one JSON value per segment.
		refused("garbage after the header JSON", rawSigned(`{"alg":"RS256","kid":"key-1"}x`, fixtureClaims(nil)), "header is not a JSON object"),
		refused("a second header object after the first", rawSigned(`{"alg":"RS256","kid":"key-1"}{"alg":"none"}`, fixtureClaims(nil)), "header is not a JSON object"),
		refused("a byte order mark before the header", rawSigned("\ufeff"+`{"alg":"RS256","kid":"key-1"}`, fixtureClaims(nil)), "header is not a JSON object"),
		refused("a second claims object after the first", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+`{"roles":["owner"]}`)
		}, "claims are not a JSON object"),
		refused("a NUL byte after the claims", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+"\x00")
		}, "claims are not a JSON object"),
		{name: "white space after the claims is JSON", token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+" \n")
		}, wantStatus: 200},
		refused("header nested 20000 deep", rawSigned(`{"alg":"RS256","kid":"key-1","x":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`, fixtureClaims(nil)), "header is not a JSON object"),
		refused("kid of another type than string", rawSigned(`{"alg":"RS256","kid":1}`, fixtureClaims(nil)), "kid is not a string"),
		refused("kid as an object", rawSigned(`{"alg":"RS256","kid":{"kid":"key-1"}}`, fixtureClaims(nil)), "kid is not a string"),

		// Nested tokens: the payload of a JWS must be the claims themselves.
		refused("nested JWS (cty JWT) whose inner token is signed by another key", func(t testing.TB) string {
			inner := signRS256(t, privateKey(t, "rogue"), rs256Header("key-1"), userClaims(t, nil))
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1","cty":"JWT"}`, inner)
		}, "claims are not a JSON object"),
		refused("nested JWS as a JSON string", func(t testing.TB) string {
			inner := validToken(t)
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1","cty":"JWT"}`, strconv.Quote(inner))
		}, "claims are not a JSON object"),
		refused("JWE compact serialization", func(t testing.TB) string {
			header := segment(t, map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "key-1"})
			return header + ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
		}, "JWE"),
		refused("JWE header on a three-part token", rawSigned(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"key-1"}`, fixtureClaims(nil)), "not signed with RS256"),
		refused("unencoded payload (b64 false, critical)", rawSigned(`{"alg":"RS256","kid":"key-1","b64":false,"crit":["b64"]}`, fixtureClaims(nil)), "critical"),
	})
}

// bigClaimsToken is a token signed by key-1 whose length is between min and max, padded by
// a filler claim; exact lengths are not always reachable in base64.
func bigClaimsToken(t testing.TB, min, max int) string {
	t.Helper()
	key := privateKey(t, "key-1")
	header := segment(t, rs256Header("key-1"))
	base := claimsText(t, map[string]interface{}{"filler": ""})
	signatureLength := len(rs256Signature(t, key, "x"))
	for filler := max * 3 / 4; filler > 0; filler-- {
		claims := strings.Replace(base, `"filler":""`, `"filler":"`+strings.Repeat("f", filler)+`"`, 1)
		length := len(header) + 1 + base64.RawURLEncoding.EncodedLen(len(claims)) + 1 + signatureLength
		if length >= min && length <= max {
			token := signRaw(t, key, `{"alg":"RS256","kid":"key-1","typ":"JWT"}`, claims)
			if len(token) < min || len(token) > max {
				t.Fatalf("test bug: token of %d bytes, want %d to %d", len(token), min, max)
			}
			return token
		}
	}
	t.Fatalf("no filler gives a token of %d to %d bytes", min, max)
	return ""
}

func TestAttacksOnSize(t *testing.T) {
	runTokenCases(t, pemConfig, []tokenCase{
		refused("a 1 MB token", literal(strings.Repeat("A", 1<<20)), "larger than 64 KiB"),
		refused("a 1 MB token made of dots", literal(strings.Repeat(".", 1<<20)), "larger than 64 KiB"),
		refused("a signed token just over 64 KiB", func(t testing.TB) string { return bigClaimsToken(t, 64<<10+1, 64<<10+3) }, "larger than 64 KiB"),
		{name: "a signed token of 64 KiB at most is verified", token: func(t testing.TB) string { return bigClaimsToken(t, 64<<10-2, 64<<10) }, wantStatus: 200},
		{name: "100 Authorization headers", token: validToken, header: func(r *http.Request) {
			for i := 0; i < 99; i++ {
				r.Header.Add("Authorization", r.Header.Get("Authorization"))
			}
		}, wantStatus: 400, wantError: "invalid_request", wantDetail: "more than one Authorization header"},
		{name: "a 1 MB Authorization header of another scheme", header: func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+strings.Repeat("A", 1<<20))
		}, wantStatus: 401},
	})
}

func TestAttacksOnClaimTypes(t *testing.T) {
	now := time.Now().Unix()
	onlyAPI := func(c *Config) { c.Audience = []string{"api"} }
	onlyOne := func(c *Config) { c.Audience = []string{"1"} }
	needsAdmin := func(c *Config) { c.Roles = []string{"admin"} }
	rawClaim := func(name, value string) func(testing.TB) string {
		return func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{name: nil}), `"`+name+`":`+value))
		}
	}
	cases := []tokenCase{
		{name: "exp as a float in the future", token: rawClaim("exp", strconv.FormatInt(now+3600, 10)+".5"), wantStatus: 200},
		refused("exp as a float in the past", rawClaim("exp", strconv.FormatInt(now-40, 10)+".5"), "expired"),
		{name: "exp huge (1e300)", token: rawClaim("exp", "1e300"), wantStatus: 200},
		refused("exp hugely negative (-1e300)", rawClaim("exp", "-1e300"), "expired"),
		refused("exp beyond float64 (1e400)", rawClaim("exp", "1e400"), "no numeric exp"),
		refused("exp as a numeric string", rawClaim("exp", `"`+strconv.FormatInt(now+3600, 10)+`"`), "no numeric exp"),
		refused("exp as a date string", rawClaim("exp", `"2999-01-01T00:00:00Z"`), "no numeric exp"),
		refused("exp true", rawClaim("exp", "true"), "no numeric exp"),
		refused("exp null", rawClaim("exp", "null"), "no numeric exp"),
		refused("exp in an array", rawClaim("exp", "["+strconv.FormatInt(now+3600, 10)+"]"), "no numeric exp"),
		refused("exp in an object", rawClaim("exp", `{"$numberLong":"`+strconv.FormatInt(now+3600, 10)+`"}`), "no numeric exp"),
		refused("nbf huge (1e300)", rawClaim("nbf", "1e300"), "not valid yet"),
		refused("iat huge (1e300)", rawClaim("iat", "1e300"), "issued in the future"),
		refused("nbf as a string", rawClaim("nbf", `"0"`), "non-numeric nbf or iat"),
		refused("iat null", rawClaim("iat", "null"), "non-numeric nbf or iat"),

		{name: "aud a number", config: onlyOne, token: rawClaim("aud", "1"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an array of numbers", config: onlyOne, token: rawClaim("aud", "[1,2]"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an object", config: onlyAPI, token: rawClaim("aud", `{"api":true}`), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an object with the audience as a value", config: onlyAPI, token: rawClaim("aud", `{"0":"api"}`), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud null", config: onlyAPI, token: rawClaim("aud", "null"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an array holding null", config: onlyAPI, token: rawClaim("aud", "[null]"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an empty array", config: onlyAPI, token: rawClaim("aud", "[]"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud a nested array", config: onlyAPI, token: rawClaim("aud", `[["api"]]`), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud true", config: onlyAPI, token: rawClaim("aud", "true"), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud in other case", config: onlyAPI, token: rawClaim("aud", `"API"`), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud with a trailing space", config: onlyAPI, token: rawClaim("aud", `"api "`), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud missing", config: onlyAPI, token: tokenWith(map[string]interface{}{"aud": nil}), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "aud an array mixing a number and the audience", config: onlyAPI, token: rawClaim("aud", `[1,"api"]`), wantStatus: 200},

		{name: "roles a string equal to the role", config: needsAdmin, token: rawClaim("roles", `"admin"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a comma-separated string", config: needsAdmin, token: rawClaim("roles", `"admin,owner"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a string containing the role", config: needsAdmin, token: rawClaim("roles", `"superadministrator"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles an object keyed by the role", config: needsAdmin, token: rawClaim("roles", `{"admin":true}`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a nested list", config: needsAdmin, token: rawClaim("roles", `[["admin"]]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list of numbers", config: needsAdmin, token: rawClaim("roles", `[1,2]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles true", config: needsAdmin, token: rawClaim("roles", `true`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles null", config: needsAdmin, token: rawClaim("roles", `null`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role padded", config: needsAdmin, token: rawClaim("roles", `[" admin","admin "]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role in capitals", config: needsAdmin, token: rawClaim("roles", `["ADMIN"]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role and its neighbours", config: needsAdmin, token: rawClaim("roles", `[1,null,{"a":1},"admin"]`), wantStatus: 200},
		{name: "permissions a string equal to the permission", config: func(c *Config) { c.Permissions = []string{"uploadFile"} }, token: rawClaim("permissions", `"uploadFile"`), wantStatus: 403, wantError: "insufficient_scope"},
	}
	runTokenCases(t, pemConfig, cases)
}

func TestAttacksThroughOtherChannels(t *testing.T) {
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "access_token query parameter is not a credential", header: func(r *http.Request) {
			r.URL.RawQuery = "access_token=" + validToken(t)
		}, wantStatus: 401},
		{name: "a token in a cookie is not a credential", header: func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "access_token", Value: validToken(t)})
		}, wantStatus: 401},
		{name: "x-api-key outside Frontegg mode is not a credential", header: func(r *http.Request) {
			r.Header.Set("X-Api-Key", validToken(t))
		}, wantStatus: 401},
		{name: "Bearer and a tab is not the bearer scheme", header: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer\t"+validToken(t))
		}, wantStatus: 401},
	})
}

// recordingJWKS is a JWKS server that records the paths it is asked for.
type recordingJWKS struct {
	*jwksServer
	mu    sync.Mutex
	paths []string
}

func newRecordingJWKS(t testing.TB, body []byte) *recordingJWKS {
	s := &recordingJWKS{jwksServer: newJWKSServer(t)}
	s.set(http.StatusOK, body)
	inner := s.Config.Handler
	s.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, req.URL.RequestURI())
		s.mu.Unlock()
		inner.ServeHTTP(rw, req)
	})
	return s
}

func (s *recordingJWKS) checkOnlyConfiguredPath(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, path := range s.paths {
		if path != "/.well-known/jwks.json" {
			t.Errorf("the JWKS endpoint was asked for %q; want only the configured /.well-known/jwks.json", path)
		}
	}
}

func TestAttacksOnKeySelection(t *testing.T) {
	trap := newTrapServer(t)
	key1, key2, rogue := privateKey(t, "key-1"), privateKey(t, "key-2"), privateKey(t, "rogue")
	secret := []byte("a shared secret the endpoint publishes by mistake")
	k := base64.RawURLEncoding.EncodeToString(secret)
	lowercase := jwkOf(&key1.PublicKey, "rsa-lowercase")
	lowercase["kty"] = "rsa"
	hmacAlg := jwkOf(&key1.PublicKey, "rsa-for-hs256")
	hmacAlg["alg"] = "HS256"
	body := jwksOf(t,
		jwkOf(&key1.PublicKey, "key-1"), jwkOf(&key2.PublicKey, "key-2"),
		map[string]interface{}{"kty": "oct", "kid": "oct-hs256", "alg": "HS256", "k": k},
		map[string]interface{}{"kty": "oct", "kid": "oct-rs256", "alg": "RS256", "use": "sig", "k": k},
		map[string]interface{}{"kty": "EC", "kid": "ec-rs256", "alg": "RS256", "crv": "P-256", "x": "pP2p0utYhJXRmhYqLHe9nHqKD5f6VZFJEqlKSe5gs5Y", "y": "wPoPEQmvuzoEeBWWaQxG0ZvJPecGmgnr3sCNaCsgu1k"},
		map[string]interface{}{"kty": "OKP", "kid": "okp-ed25519", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		lowercase, hmacAlg,
	)
	server := newRecordingJWKS(t, body)
	base := func(t testing.TB) *Config { return jwksConfig(server.jwksServer) }
	signedBy := func(key *rsa.PrivateKey, header map[string]interface{}) func(testing.TB) string {
		return func(t testing.TB) string { return signRS256(t, key, header, userClaims(t, nil)) }
	}
	hmacRS256 := func(kid string) func(testing.TB) string {
		return func(t testing.TB) string {
			input := segment(t, rs256Header(kid)) + "." + segment(t, userClaims(t, nil))
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
	}
	certificate := func(t testing.TB) string {
		template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "key-1"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, template, template, &rogue.PublicKey, rogue)
		if err != nil {
			t.Fatalf("making a certificate: %v", err)
		}
		return base64.StdEncoding.EncodeToString(der)
	}
	header := func(members map[string]interface{}) map[string]interface{} {
		h := map[string]interface{}{"alg": "RS256", "typ": "JWT"}
		for name, value := range members {
			h[name] = value
		}
		return h
	}
	var cases []tokenCase
	// alg RS256 naming a JWK that is not an RSA signing key.
	cases = append(cases,
		refused("RS256 naming an oct JWK, HMAC signature", hmacRS256("oct-hs256"), "unknown key"),
		refused("RS256 naming an oct JWK that claims RS256, HMAC signature", hmacRS256("oct-rs256"), "unknown key"),
		refused("RS256 naming an EC JWK that claims RS256", signedBy(key1, rs256Header("ec-rs256")), "unknown key"),
		refused("RS256 naming an OKP JWK", signedBy(key1, rs256Header("okp-ed25519")), "unknown key"),
		refused("RS256 naming a JWK of kty rsa in lower case", signedBy(key1, rs256Header("rsa-lowercase")), "unknown key"),
		refused("RS256 naming an RSA JWK for HS256", signedBy(key1, rs256Header("rsa-for-hs256")), "unknown key"),
		refused("HS256 naming an oct JWK, HMAC signature", func(t testing.TB) string { return hmacSigned(t, "HS256", "oct-hs256", secret) }, "not signed with RS256"),
	)
	// kid is a name to look up, never a path or a URL.
	for _, kid := range []string{"../../etc/passwd", "../key-1", "key-1/../key-1", "/etc/passwd", trap.server.URL + "/", "http://evil/", "file:///etc/passwd",
		"key-1\x00", "key-1 ", " key-1", "KEY-1", "%6Bey-1", "key-1?kid=key-1", "key-1#", `key-1"}`, strings.Repeat("k", 10000)} {
		kid := kid
		name := kid
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		cases = append(cases, refused("kid "+strconv.Quote(name)+", signed by key-1", signedBy(key1, rs256Header(kid)), "unknown key"))
	}
	// jku, x5u, jwk and x5c are ignored: keys come from the configured source only.
	cases = append(cases,
		refused("jku naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "jku": trap.server.URL + "/jwks.json"})), "unknown key"),
		refused("jku naming a trap and kid key-1, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "key-1", "jku": trap.server.URL + "/jwks.json"})), "signature is invalid"),
		refused("x5u naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "x5u": trap.server.URL + "/cert.pem"})), "unknown key"),
		refused("jwk embedding the signer's key, kid key-1", signedBy(rogue, header(map[string]interface{}{"kid": "key-1", "jwk": jwkOf(&rogue.PublicKey, "key-1")})), "signature is invalid"),
		refused("jwk embedding the signer's key, no kid", signedBy(rogue, header(map[string]interface{}{"jwk": jwkOf(&rogue.PublicKey, "rogue")})), "unknown key"),
		refused("x5c carrying the signer's certificate, kid key-1", func(t testing.TB) string {
			return signRS256(t, rogue, header(map[string]interface{}{"kid": "key-1", "x5c": []string{certificate(t)}}), userClaims(t, nil))
		}, "signature is invalid"),
		tokenCase{name: "jku and x5u naming a trap on a token signed by key-1 are ignored",
			token: signedBy(key1, header(map[string]interface{}{"kid": "key-1", "jku": trap.server.URL + "/jwks.json", "x5u": trap.server.URL + "/cert.pem"})), wantStatus: 200},
	)
	t.Run("JWKS", func(t *testing.T) { runTokenCases(t, base, cases) })
	t.Run("PEM key", func(t *testing.T) {
		runTokenCases(t, pemConfig, []tokenCase{
			refused("jwk embedding the signer's key", signedBy(rogue, header(map[string]interface{}{"jwk": jwkOf(&rogue.PublicKey, "rogue")})), "signature is invalid"),
			refused("jku naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "jku": trap.server.URL + "/jwks.json"})), "signature is invalid"),
		})
	})
	if got := trap.requests.Load(); got != 0 {
		t.Errorf("the server named in jku, x5u and kid received %d requests; want none", got)
	}
	if got := server.requests.Load(); got < 1 {
		t.Errorf("the configured JWKS endpoint was asked %d times; want at least once", got)
	}
	server.checkOnlyConfiguredPath(t)
}

func TestEmptyNamesInConfigAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"an empty role among others", func(c *Config) { c.Roles = []string{"admin", ""} }, "roles: "},
		{"a trailing comma in roles", func(c *Config) { c.Roles = []string{"admin,"} }, "roles: "},
		{"a leading comma in roles", func(c *Config) { c.Roles = []string{",admin"} }, "roles: "},
		{"a role of white space", func(c *Config) { c.Roles = []string{"\t"} }, "roles: "},
		{"a trailing comma in permissions", func(c *Config) { c.Permissions = []string{"uploadFile,"} }, "permissions: "},
		{"an empty audience", func(c *Config) { c.Audience = []string{""} }, "audience: "},
		{"an empty permissionsClaim", func(c *Config) { c.PermissionsClaim = "" }, "permissionsClaim: "},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := pemConfig(t)
			tc.change(config)
			handler, err := New(context.Background(), &upstream{}, config, "route")
			if err == nil || handler != nil {
				t.Fatalf("New = %v, %v; want no handler and an error containing %q (an empty name must not turn into no requirement)", handler, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %q; want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestHugeExpIsClampedInTheCache: exp 1e300 is a valid NumericDate; the cache entry must not
// overflow into the past (the token would then be verified on every request) nor fail.
func TestHugeExpIsClampedInTheCache(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	token := signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{"exp": nil}), `"exp":1e300`))
	for i := 0; i < 2; i++ {
		rec, _ := serve(handler, request(token))
		if rec.Code != 200 {
			t.Fatalf("request %d with exp 1e300: status %d (%s); want 200", i, rec.Code, rec.Body.String())
		}
	}
	first := handler.cache.get("Bearer " + token)
	if first == nil || first.expiresUnixNano <= 0 {
		t.Fatalf("cached grant %+v; want one whose expiry is clamped to a positive time", first)
	}
	serve(handler, request(token))
	if again := handler.cache.get("Bearer " + token); again != first {
		t.Fatalf("the grant of an exp 1e300 token was replaced on the next request; want it served from the cache (expiry %d)", first.expiresUnixNano)
	}
}

// TestForgeriesAreNeverCached: a refused token leaves no grant behind.
func TestForgeriesAreNeverCached(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	forged := []string{tamperedPayload(t), hmacToken(t, "HS256", readFixture(t, "keys/key-1.pub.pem")), tokenWith(map[string]interface{}{"exp": time.Now().Unix() - 3600})(t)}
	for _, token := range forged {
		for i := 0; i < 2; i++ {
			if rec, _ := serve(handler, request(token)); rec.Code != 401 {
				t.Fatalf("forged token, request %d: status %d; want 401", i, rec.Code)
			}
		}
		if handler.cache.get("Bearer "+token) != nil {
			t.Fatalf("a refused token is in the cache")
		}
	}
}

// challengeSyntax is RFC 6750 section 3's challenge as withauth writes it: error_description
// may hold only %x20-21 / %x23-5B / %x5D-7E (no double quote, no backslash).
var challengeSyntax = regexp.MustCompile(`^Bearer realm="withauth"(, error="(invalid_request|invalid_token|insufficient_scope)", error_description="[\x20\x21\x23-\x5B\x5D-\x7E]*")?$`)

// TestChallengesAreWellFormed: every WWW-Authenticate challenge parses as RFC 6750 says, so that
// clients read the error and its description. The description of a malformed Authorization
// header holds double quotes today, which end the quoted string early.
func TestChallengesAreWellFormed(t *testing.T) {
	config := pemConfig(t)
	config.Roles = []string{"owner"}
	handler := newHandler(t, config, &upstream{})
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no token", nil},
		{"another scheme", []string{"Basic YWRhOnB3"}},
		{"bearer without a token", []string{"Bearer "}},
		{"a space in the token", []string{"Bearer a b"}},
		{"two headers", []string{"Bearer a", "Bearer b"}},
		{"garbage", []string{"Bearer garbage"}},
		{"forged", []string{"Bearer " + tamperedPayload(t)}},
		{"expired", []string{"Bearer " + tokenWith(map[string]interface{}{"exp": time.Now().Unix() - 3600})(t)}},
		{"alg none", []string{"Bearer " + segment(t, map[string]string{"alg": "none"}) + "." + segment(t, userClaims(t, nil)) + "."}},
		{"lacking the role", []string{"Bearer " + validToken(t)}},
	} {
		req := request("")
		if tc.header != nil {
			req.Header["Authorization"] = tc.header
		}
		rec, _ := serve(handler, req)
		if challenge := rec.Header().Get("WWW-Authenticate"); !challengeSyntax.MatchString(challenge) {
			t.Errorf("%s: status %d, WWW-Authenticate %s; want an RFC 6750 challenge (no \" or \\ in error_description)", tc.name, rec.Code, challenge)
		}
	}
}

// TestIdentityHeadersSpelledWithUnderscoresAreStripped: CGI-style servers (WSGI, PHP, Rack)
// turn X-User-Id and X_User_Id into the same HTTP_X_USER_ID, so a client that sends the
// underscore spelling may be believed by the upstream: those spellings are stripped too.
func TestIdentityHeadersSpelledWithUnderscoresAreStripped(t *testing.T) {
	config := pemConfig(t)
	config.ClaimsHeader = "X-Auth-Claims"
	smuggle := func(r *http.Request) {
		// As Go's server names them: the name canonicalised, underscores kept.
		r.Header["X_user_id"] = []string{"attacker"}
		r.Header["X_user_roles"] = []string{"admin"}
		r.Header["X-User_email"] = []string{"attacker@example.com"}
		r.Header["X_auth_claims"] = []string{"e30"}
	}
	for _, token := range []string{validToken(t), ""} {
		next := &upstream{}
		req := request(token)
		smuggle(req)
		if token == "" {
			// A preflight passes without a token: the headers must go all the same.
			req.Method = http.MethodOptions
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		rec, _ := serve(newHandler(t, config, next), req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d; want 200", rec.Code)
		}
		for name, values := range next.header {
			alias := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
			if alias != name && (strings.HasPrefix(alias, "X-User-") || alias == "X-Auth-Claims" || alias == "X-Tenant-Id") {
				t.Errorf("the upstream received %s: %q, which CGI-style servers read as %s; want it stripped", name, values, alias)
			}
		}
	}
}

// TestAccessTokenGrantsAreNotAuthorizationCredentials: an access token admitted in x-api-key
// is cached under "x-api-key <token>". The cache is also looked up by the raw Authorization
// header value, so "Authorization: x-api-key <token>" finds that grant and is admitted,
// though access tokens are refused in Authorization and that value is no bearer credential.
func TestAccessTokenGrantsAreNotAuthorizationCredentials(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	next := &upstream{}
	handler := newHandler(t, CreateConfig(), next)
	token := fronteggToken(t, "userAccessToken", nil)
	for i := 0; i < 2; i++ { // the second time the grant is cached against the current keys
		if rec, _ := serve(handler, fronteggRequest("/shift", "X-Api-Key", token)); rec.Code != http.StatusOK {
			t.Fatalf("access token in x-api-key, request %d: status %d (%s); want 200", i, rec.Code, errorDescription(rec))
		}
	}
	next.calls = 0
	req := fronteggRequest("/shift", "", "")
	req.Header.Set("Authorization", "x-api-key "+token)
	if rec, _ := serve(handler, req); rec.Code != http.StatusUnauthorized || next.calls != 0 {
		t.Fatalf("Authorization: x-api-key <access token>: status %d, upstream reached %d times; want 401 and never (no bearer token, no x-api-key)", rec.Code, next.calls)
	}
}
