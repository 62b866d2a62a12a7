package jose

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	k := keys(t)
	valid := sign(t, k.rsa, map[string]interface{}{"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, map[string]interface{}{"sub": "a"})
	parts := strings.Split(valid, ".")
	token, err := Parse(valid, map[string]bool{"RS256": true}, nil)
	if err != nil || token.Alg != "RS256" || token.Kid != "k1" || token.Typ != "at+jwt" || token.SigningInput != parts[0]+"."+parts[1] || token.Payload != parts[1] {
		t.Fatalf("Parse(a valid RS256 token) = %+v, %v; want its parts", token, err)
	}
	header := func(h string) string { return encoded(h) + "." + parts[1] + "." + parts[2] }
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"too large", strings.Repeat("a", MaxTokenBytes+1), ErrTokenTooLarge},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"five parts (JWE)", "a.b.c.d.e", ErrEncrypted},
		{"a newline", parts[0] + ".\n" + parts[1] + "." + parts[2], ErrMalformed},
		{"a padded header", parts[0] + "=." + parts[1] + "." + parts[2], ErrHeaderBase64},
		{"a header that is not an object", header(`[1]`), ErrBadHeader},
		{"alg none", header(`{"alg":"none"}`), ErrAlgorithm},
		{"alg not accepted", header(`{"alg":"ES256"}`), ErrAlgorithm},
		{"crit", header(`{"alg":"RS256","crit":["exp"]}`), ErrCritical},
		{"kid a number", header(`{"alg":"RS256","kid":1}`), ErrKidType},
		{"no signature", parts[0] + "." + parts[1] + ".", ErrMalformed},
		{"a signature with a +", parts[0] + "." + parts[1] + ".a+b", ErrSignatureBase64},
	} {
		if _, err := Parse(tc.token, map[string]bool{"RS256": true}, nil); err != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
}

// encoded is text as a token's part: unpadded base64url.
func encoded(text string) string { return base64.RawURLEncoding.EncodeToString([]byte(text)) }

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload string
		want    error
	}{
		{`{"sub":"a","id":12345678901234567890}`, nil},
		{`{"sub":"a"} {"sub":"b"}`, ErrBadClaims},
		{`[1]`, ErrBadClaims},
		{`{"n":1e1000}`, ErrNumberRange},
	} {
		claims, err := DecodeClaims(&Token{Payload: encoded(tc.payload)})
		if err != tc.want {
			t.Errorf("claims %s: %v; want %v", tc.payload, err, tc.want)
		}
		if id, isNumber := claims["id"].(json.Number); err == nil && isNumber && id.String() != "12345678901234567890" {
			t.Errorf("claims %s: id %v; want its digits kept", tc.payload, claims["id"])
		}
	}
	if _, err := DecodeClaims(&Token{Payload: "not base64!"}); err != ErrPayloadBase64 {
		t.Errorf("a payload that is not base64url: %v; want ErrPayloadBase64", err)
	}
}

func TestMediaType(t *testing.T) {
	t.Parallel()
	if MediaType("Application/AT+JWT") != "at+jwt" || MediaType("at+jwt") != "at+jwt" || MediaType("JWT") != "jwt" {
		t.Error("MediaType: want at+jwt for application/at+jwt in any case, and jwt for JWT")
	}
}

// FuzzParse: parsing is bounded and total: every input is a *Token or one of the token
// sentinels; an accepted one names an accepted algorithm, and its parts are the input's.
func FuzzParse(f *testing.F) {
	k := keys(f)
	f.Add(sign(f, k.rsa, map[string]interface{}{"alg": "RS256", "kid": "k1"}, map[string]interface{}{"sub": "a"}))
	f.Add(sign(f, k.p256, map[string]interface{}{"alg": "ES256"}, map[string]interface{}{"exp": 1}))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	accepted := acceptAll()
	sentinels := map[error]bool{ErrTokenTooLarge: true, ErrMalformed: true, ErrEncrypted: true, ErrHeaderBase64: true, ErrBadHeader: true,
		ErrAlgorithm: true, ErrCritical: true, ErrKidType: true, ErrSignatureBase64: true}
	f.Fuzz(func(t *testing.T, text string) {
		token, err := Parse(text, accepted, nil)
		if err != nil {
			if token != nil || !sentinels[err] {
				t.Fatalf("Parse(%q) = %v, %v; want nil and a token sentinel", text, token, err)
			}
			return
		}
		if !accepted[token.Alg] || !strings.HasPrefix(text, token.SigningInput+".") || strings.Count(token.SigningInput, ".") != 1 || len(token.Signature) == 0 {
			t.Fatalf("Parse(%q) accepted %+v", text, token)
		}
		// A header read before stands for its text: the token parses the same with it.
		again, err := Parse(text, accepted, token.Header)
		if err != nil || again.Fresh || !token.Fresh || again.Alg != token.Alg || again.Kid != token.Kid || again.Typ != token.Typ ||
			again.SigningInput != token.SigningInput || string(again.Signature) != string(token.Signature) {
			t.Fatalf("Parse(%q) with its header known = %+v, %v; want %+v, not fresh", text, again, err, token)
		}
		if _, err := Parse(text, map[string]bool{}, token.Header); err != ErrAlgorithm {
			t.Fatalf("Parse(%q) on a route accepting no algorithm, its header known: %v; want ErrAlgorithm", text, err)
		}
	})
}
