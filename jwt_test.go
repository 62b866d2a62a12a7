package withauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// The attack battery: forged and malformed tokens and requests, one named case each. Every
// one must be answered 401 (400 for a malformed request), never 5xx, and never reach the
// upstream; checkAnswer asserts all three.

// refused is the expected answer to a forged token.
func refused(name string, token func(testing.TB) string, err error) tokenCase {
	return tokenCase{name: name, token: token, wantStatus: 401, wantError: "invalid_token", wantErr: err}
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
			}, errAlgorithm),
			refused("alg "+alg+", a valid RS256 signature of another header", func(t testing.TB) string {
				parts := validParts(t)
				return segment(t, map[string]string{"alg": alg, "kid": "key-1"}) + "." + parts[1] + "." + parts[2]
			}, errAlgorithm),
			refused("alg "+alg+", header signed with RS256 by key-1", rawSigned(`{"alg":"`+alg+`","kid":"key-1"}`, fixtureClaims(nil)), errAlgorithm),
		)
	}
	for _, header := range []string{
		`{"alg":"rs256","kid":"key-1"}`, `{"alg":"RS256 ","kid":"key-1"}`, `{"alg":"RS384","kid":"key-1"}`,
		`{"alg":"RS512","kid":"key-1"}`, `{"alg":"PS256","kid":"key-1"}`, `{"alg":"ES256","kid":"key-1"}`,
		`{"kid":"key-1"}`, `{"alg":null,"kid":"key-1"}`, `{"alg":["RS256"],"kid":"key-1"}`, `{"alg":{"name":"RS256"},"kid":"key-1"}`,
	} {
		cases = append(cases, refused("header "+header+" signed by key-1", rawSigned(header, fixtureClaims(nil)), errAlgorithm))
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
			}, errAlgorithm))
		}
	}
	// The header claims RS256 but the signature is an HMAC: 32 bytes where an RSA-2048 key makes
	// 256, refused before any RSA arithmetic.
	for _, secret := range publicKeySecrets(t) {
		secret := secret
		cases = append(cases, refused("RS256 header with an HMAC-SHA256 keyed with "+secret.name, func(t testing.TB) string {
			input := segment(t, rs256Header("key-1")) + "." + segment(t, userClaims(t, nil))
			mac := hmac.New(sha256.New, secret.value)
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}, errSignatureSize))
	}
	t.Run("PEM key", func(t *testing.T) { runTokenCases(t, pemConfig, cases) })
	server := newKeyServer(t)
	t.Run("JWKS", func(t *testing.T) {
		runTokenCases(t, func(t testing.TB) *Config { return jwksConfig(t, server) }, cases)
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
		refused(`header {"alg":"RS256","alg":"none"} properly signed is refused`, rawSigned(`{"alg":"RS256","alg":"none","kid":"key-1"}`, claims), errAlgorithm),
		refused(`header {"alg":"RS256","alg":"HS256"} properly signed is refused`, rawSigned(`{"alg":"RS256","alg":"HS256","kid":"key-1"}`, claims), errAlgorithm),
		{name: `escaped name: {"\u0061lg":"RS256"} is alg`, token: rawSigned(`{"\u0061lg":"RS256","kid":"key-1"}`, claims), wantStatus: 200},
		refused(`escaped duplicate: {"alg":"RS256","\u0061lg":"none"} is refused`, rawSigned(`{"alg":"RS256","\u0061lg":"none","kid":"key-1"}`, claims), errAlgorithm),
		{name: `names are case-sensitive: {"ALG":"none","alg":"RS256"} is RS256`, token: rawSigned(`{"ALG":"none","alg":"RS256","kid":"key-1"}`, claims), wantStatus: 200},
		refused(`names are case-sensitive: {"ALG":"RS256"} has no alg`, rawSigned(`{"ALG":"RS256","kid":"key-1"}`, claims), errAlgorithm),
		refused(`header {"crit":[],"crit":null} still lists crit`, rawSigned(`{"alg":"RS256","crit":["b64"],"crit":null,"kid":"key-1"}`, claims), errCritical),

		{name: "exp twice, the later one valid", token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, prependMembers(claimsText(t, nil), `"exp":`+past))
		}, wantStatus: 200},
		refused("exp twice, the later one past", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"exp":`+past))
		}, errExpired),
		refused("EXP in capitals is not exp", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{"exp": nil}), `"EXP":`+strconv.FormatInt(now+3600, 10)))
		}, errNoExpiry),
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
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errIssuer},
	})

	server := newKeyServer(t)
	runTokenCases(t, func(t testing.TB) *Config { return jwksConfig(t, server) }, []tokenCase{
		{name: "kid twice, the later one names the signer", token: rawSigned(`{"alg":"RS256","kid":"key-2","kid":"key-1"}`, claims), wantStatus: 200},
		refused("kid twice, the later one names another key", rawSigned(`{"alg":"RS256","kid":"key-1","kid":"key-2"}`, claims), errBadSignature),
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
		}, errSignatureBase64),
		refused("every segment with base64 padding", func(t testing.TB) string {
			p := parts(t)
			return padded(p[0]) + "." + padded(p[1]) + "." + padded(p[2])
		}, errHeaderBase64),
		refused("standard base64 alphabet (+ and /)", func(t testing.TB) string {
			p := signatureWith(t, "-_")
			std := strings.NewReplacer("-", "+", "_", "/").Replace(p[2])
			return p[0] + "." + p[1] + "." + std
		}, errSignatureBase64),
		refused("non-zero trailing bits in the signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "." + withTrailingBits(t, p[2])
		}, errSignatureBase64),
		refused("non-zero trailing bits in the header", func(t testing.TB) string {
			// {"alg":"RS256","kid":"key-1"} is 29 bytes: 39 characters, 2 unused bits.
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"key-1"}`))
			input := withTrailingBits(t, header) + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsText(t, nil)))
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, errHeaderBase64),
		refused("line feed inside the signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "." + p[2][:100] + "\n" + p[2][100:]
		}, errMalformed),
		refused("carriage return and line feed at the end", func(t testing.TB) string { return validToken(t) + "\r\n" }, errMalformed),
		refused("tab inside the header", func(t testing.TB) string {
			p := parts(t)
			return p[0][:10] + "\t" + p[0][10:] + "." + p[1] + "." + p[2]
		}, errHeaderBase64),
		// The payload is decoded only once the signature over its exact bytes holds.
		refused("tab inside the payload", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1][:10] + "\t" + p[1][10:] + "." + p[2]
		}, errBadSignature),
		refused("payload with == padding, signed as such", func(t testing.TB) string {
			p := parts(t)
			input := p[0] + "." + p[1] + "=="
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, errPayloadBase64),
		refused("payload in the standard alphabet, signed as such", func(t testing.TB) string {
			claims := claimsText(t, map[string]interface{}{"name": "\u00fb\u00ff\u00fe"})
			input := segment(t, rs256Header("key-1")) + "." + base64.RawStdEncoding.EncodeToString([]byte(claims))
			if !strings.ContainsAny(input, "+/") {
				t.Fatalf("test bug: %q has neither + nor /", input)
			}
			return input + "." + rs256Signature(t, privateKey(t, "key-1"), input)
		}, errPayloadBase64),
		{name: "space inside the token", token: func(t testing.TB) string {
			p := parts(t)
			return p[0] + ". " + p[1] + "." + p[2]
		}, wantStatus: 400, wantError: "invalid_request"},
		refused("empty signature", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1] + "."
		}, errMalformed),
		refused("signature with a leading zero byte", func(t testing.TB) string {
			p := parts(t)
			signature, _ := base64.RawURLEncoding.DecodeString(p[2])
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(append([]byte{0}, signature...))
		}, errSignatureSize),
		refused("signature plus the modulus (the same value mod n)", func(t testing.TB) string {
			p := parts(t)
			signature, _ := base64.RawURLEncoding.DecodeString(p[2])
			s := new(big.Int).SetBytes(signature)
			s.Add(s, privateKey(t, "key-1").N)
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(s.FillBytes(make([]byte, 257))[1:])
		}, errBadSignature),
		// The quickstart's "${TOKEN}x": three parts, the last no longer base64url.
		refused("a character appended to the token", func(t testing.TB) string { return validToken(t) + "x" }, errSignatureBase64),
		refused("a signature two bytes short", func(t testing.TB) string {
			p := parts(t)
			signature, _ := base64.RawURLEncoding.DecodeString(p[2])
			return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(signature[2:])
		}, errSignatureSize),
		refused("four parts", func(t testing.TB) string { return validToken(t) + ".AAAA" }, errMalformed),
		refused("a trailing dot", func(t testing.TB) string { return validToken(t) + "." }, errMalformed),
		refused("a leading dot", func(t testing.TB) string { return "." + validToken(t) }, errMalformed),
		refused("two parts", func(t testing.TB) string {
			p := parts(t)
			return p[0] + "." + p[1]
		}, errMalformed),

		// Trailing data after the JSON, properly signed: one JSON value per segment.
		refused("garbage after the header JSON", rawSigned(`{"alg":"RS256","kid":"key-1"}x`, fixtureClaims(nil)), errBadHeader),
		refused("a second header object after the first", rawSigned(`{"alg":"RS256","kid":"key-1"}{"alg":"none"}`, fixtureClaims(nil)), errBadHeader),
		refused("a byte order mark before the header", rawSigned("\ufeff"+`{"alg":"RS256","kid":"key-1"}`, fixtureClaims(nil)), errBadHeader),
		refused("a second claims object after the first", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+`{"roles":["owner"]}`)
		}, errBadClaims),
		refused("a NUL byte after the claims", func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+"\x00")
		}, errBadClaims),
		{name: "white space after the claims is JSON", token: func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, claimsText(t, nil)+" \n")
		}, wantStatus: 200},
		refused("header nested 20000 deep", rawSigned(`{"alg":"RS256","kid":"key-1","x":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`, fixtureClaims(nil)), errBadHeader),
		refused("kid of another type than string", rawSigned(`{"alg":"RS256","kid":1}`, fixtureClaims(nil)), errKidType),
		refused("kid as an object", rawSigned(`{"alg":"RS256","kid":{"kid":"key-1"}}`, fixtureClaims(nil)), errKidType),

		// Nested tokens: the payload of a JWS must be the claims themselves.
		refused("nested JWS (cty JWT) whose inner token is signed by another key", func(t testing.TB) string {
			inner := signRS256(t, privateKey(t, "rogue"), rs256Header("key-1"), userClaims(t, nil))
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1","cty":"JWT"}`, inner)
		}, errBadClaims),
		refused("nested JWS as a JSON string", func(t testing.TB) string {
			inner := validToken(t)
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1","cty":"JWT"}`, strconv.Quote(inner))
		}, errBadClaims),
		refused("JWE compact serialization", func(t testing.TB) string {
			header := segment(t, map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "key-1"})
			return header + ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
		}, errEncrypted),
		refused("JWE header on a three-part token", rawSigned(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"key-1"}`, fixtureClaims(nil)), errAlgorithm),
		refused("unencoded payload (b64 false, critical)", rawSigned(`{"alg":"RS256","kid":"key-1","b64":false,"crit":["b64"]}`, fixtureClaims(nil)), errCritical),
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
		refused("a 1 MB token", literal(strings.Repeat("A", 1<<20)), errTokenTooLarge),
		refused("a 1 MB token made of dots", literal(strings.Repeat(".", 1<<20)), errTokenTooLarge),
		refused("a signed token just over 64 KiB", func(t testing.TB) string { return bigClaimsToken(t, 64<<10+1, 64<<10+3) }, errTokenTooLarge),
		{name: "a signed token of 64 KiB at most is verified", token: func(t testing.TB) string { return bigClaimsToken(t, 64<<10-2, 64<<10) }, wantStatus: 200},
		{name: "100 Authorization headers", token: validToken, header: func(r *http.Request) {
			for i := 0; i < 99; i++ {
				r.Header.Add("Authorization", r.Header.Get("Authorization"))
			}
		}, wantStatus: 400, wantError: "invalid_request", wantErr: errTwoAuthorization},
		{name: "a 1 MB Authorization header of another scheme", header: func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+strings.Repeat("A", 1<<20))
		}, wantStatus: 401},
	})
}

// TestLargeIntegersKeepTheirDigits: claims were decoded to float64, so the uids
// 1234567890123456789 and 1234567890123456788 both reached the upstream as 1234567890123456800.
func TestLargeIntegersKeepTheirDigits(t *testing.T) {
	key := privateKey(t, "key-1")
	for _, uid := range []string{"1234567890123456789", "1234567890123456788"} {
		config := pemConfig(t)
		config.ForwardHeaders = map[string]string{"X-Uid": "uid"}
		config.ClaimsHeader = "X-Auth-Claims"
		next := &upstream{}
		token := signRaw(t, key, `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, nil), `"uid":`+uid))
		if rec, _ := serve(newHandler(t, config, next), request(token)); rec.Code != 200 {
			t.Fatalf("uid %s: status %d (%s); want 200", uid, rec.Code, errorDescription(rec))
		}
		if got := next.header.Get("X-Uid"); got != uid {
			t.Errorf("the upstream received X-Uid %q; want the claim's digits %s", got, uid)
		}
		claims, err := base64.RawURLEncoding.DecodeString(next.header.Get("X-Auth-Claims"))
		if err != nil || !strings.Contains(string(claims), `"uid":`+uid) {
			t.Errorf("the claims header holds %s; want \"uid\":%s", claims, uid)
		}
	}
}

// TestNumbersBeyondADoubleAreRefused: FuzzSignedClaims found {"exp":2000000000,"":1e1000}
// admitted: a number beyond a double decodes as json.Number here, while the upstream's decoder
// fails (Go) or reads Infinity (JavaScript). Any such number, at any depth, is refused; numbers
// within range, huge or tiny, are not.
func TestNumbersBeyondADoubleAreRefused(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	for _, members := range []string{`"":1e1000`, `"n":-1e400`, `"roles":["admin",1e999]`, `"a":{"b":[{"c":1E+309}]}`, `"big":` + strings.Repeat("9", 400),
		"\"n\" :\n\t 1e400", `"a":[ 2.5e400]`, `"a":[0,1.0e999]`, `"id":"x:1e5","n":1e400`} {
		token := signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, `{"exp":`+exp+`,`+members+`}`)
		rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(token))
		if rec.Code != http.StatusUnauthorized || bodyField(rec.Body.Bytes(), "reason") != "malformed_token" || errorDescription(rec) != errNumberRange.Error() {
			t.Errorf("claims with %s: %d %s; want 401 malformed_token, a number beyond a double", members, rec.Code, rec.Body.String())
		}
	}
	for _, members := range []string{`"n":1e308`, `"n":-1.7976931348623157e308`, `"n":1e-400`, `"id":123456789012345678901234567890`, `"roles":["admin",1e300]`} {
		token := signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, `{"exp":`+exp+`,`+members+`}`)
		if rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(token)); rec.Code != http.StatusOK {
			t.Errorf("claims with %s: %d %s; want 200 (within a double's range)", members, rec.Code, rec.Body.String())
		}
	}
}

// TestMaxTokenAge: with maxTokenAge, a token living longer (exp - iat), or without iat, is
// refused with reason token_lifetime; one within it passes, whatever the clock skew.
func TestMaxTokenAge(t *testing.T) {
	now := time.Now().Unix()
	runTokenCases(t, func(t testing.TB) *Config {
		config := pemConfig(t)
		config.MaxTokenAge = "1h"
		return config
	}, []tokenCase{
		{name: "an hour exactly", token: tokenWith(map[string]interface{}{"iat": now, "exp": now + 3600}), wantStatus: http.StatusOK},
		refused("an hour and a second", tokenWith(map[string]interface{}{"iat": now, "exp": now + 3601}), errTokenLifetime),
		refused("a year", tokenWith(map[string]interface{}{"iat": now - 60, "exp": now + 365*24*3600}), errTokenLifetime),
		refused("no iat", tokenWith(map[string]interface{}{"iat": nil}), errTokenLifetime),
	})
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "a year, without maxTokenAge", token: tokenWith(map[string]interface{}{"iat": now - 60, "exp": now + 365*24*3600}), wantStatus: http.StatusOK},
	})
}

// TestOnlyVerifiedHeadersAreRemembered: a token header is read once for the process only after
// a token under it verified; a forged token's header is never kept, a remembered header does not
// let a forged token through, and the memory is bounded in entries and in text.
func TestOnlyVerifiedHeadersAreRemembered(t *testing.T) {
	p := testProcess(t)
	handler := newHandler(t, pemConfig(t), &upstream{})
	forgedHeader := map[string]interface{}{"alg": "RS256", "kid": "key-1", "x": "forged"}
	forged := signRS256(t, privateKey(t, "key-2"), forgedHeader, userClaims(t, nil))
	if rec, _ := serve(handler, request(forged)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a token signed by another key: status %d; want 401", rec.Code)
	}
	if n := len(p.tokenHeaders.byText); n != 0 {
		t.Fatalf("after a forged token: %d headers remembered; want 0", n)
	}
	valid := validToken(t)
	for i := 0; i < 2; i++ {
		if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
			t.Fatalf("a valid token, time %d: status %d; want 200", i+1, rec.Code)
		}
	}
	text := valid[:strings.IndexByte(valid, '.')]
	if h := p.tokenHeaders.byText[text]; len(p.tokenHeaders.byText) != 1 || h == nil || h.Kid != "key-1" || h.Alg != "RS256" {
		t.Fatalf("after a valid token: headers %v; want its own header (RS256, key-1) alone", p.tokenHeaders.byText)
	}
	if rec, _ := serve(handler, request(tamperedPayload(t))); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a tampered payload under a remembered header: status %d; want 401", rec.Code)
	}

	for i := 0; i < 3*maxKnownHeaders; i++ {
		rememberHeader(p.tokenHeaders, "header-"+strconv.Itoa(i), &jose.Header{Alg: "RS256"})
	}
	if n := len(p.tokenHeaders.byText); n > maxKnownHeaders {
		t.Errorf("%d headers remembered; want at most %d", n, maxKnownHeaders)
	}
	long := strings.Repeat("a", maxKnownHeaderBytes+1)
	rememberHeader(p.tokenHeaders, long, &jose.Header{Alg: "RS256"})
	if p.tokenHeaders.byText[long] != nil {
		t.Errorf("a header of %d bytes was remembered; want none over %d", len(long), maxKnownHeaderBytes)
	}
}
