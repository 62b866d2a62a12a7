package withauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// corpusEntry is one input of a seed corpus file.
type corpusEntry struct {
	file   string
	values []interface{} // string, []byte or uint8
}

// readCorpus reads testdata/fuzz/<name>/ in the "go test fuzz v1" format.
func readCorpus(t testing.TB, name string) []corpusEntry {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("seed corpus %s: %v", dir, err)
	}
	var entries []corpusEntry
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(dir, file.Name()))
		if err != nil {
			t.Fatalf("seed corpus: %v", err)
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) < 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s/%s is not a \"go test fuzz v1\" file", dir, file.Name())
		}
		entry := corpusEntry{file: file.Name()}
		for _, line := range lines[1:] {
			open := strings.IndexByte(line, '(')
			if open < 0 || !strings.HasSuffix(line, ")") {
				t.Fatalf("%s/%s: cannot read %q", dir, file.Name(), line)
			}
			kind, literal := line[:open], line[open+1:len(line)-1]
			unquoted, uerr := strconv.Unquote(literal)
			switch {
			case kind == "string" && uerr == nil:
				entry.values = append(entry.values, unquoted)
			case kind == "[]byte" && uerr == nil:
				entry.values = append(entry.values, []byte(unquoted))
			case (kind == "byte" || kind == "uint8") && uerr == nil && len(unquoted) == 1:
				entry.values = append(entry.values, unquoted[0])
			case kind == "uint8":
				n, perr := strconv.ParseUint(literal, 10, 8)
				if perr != nil {
					t.Fatalf("%s/%s: cannot read %q", dir, file.Name(), line)
				}
				entry.values = append(entry.values, uint8(n))
			default:
				t.Fatalf("%s/%s: cannot read %q", dir, file.Name(), line)
			}
		}
		entries = append(entries, entry)
	}
	if len(entries) == 0 {
		t.Fatalf("seed corpus %s is empty", dir)
	}
	return entries
}

func corpusString(t testing.TB, entry corpusEntry, i int) string {
	t.Helper()
	if i < len(entry.values) {
		switch v := entry.values[i].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
	}
	t.Fatalf("%s: value %d is not a string", entry.file, i)
	return ""
}

// TestFuzzCorpora checks every fuzzer's property on its seed corpus, the way `go test` does
// for Fuzz functions, so that the properties also hold under Yaegi; and that the token corpus
// still holds the valid tokens the fuzzers start from.
func TestFuzzCorpora(t *testing.T) {
	tokens := newTokenChecker(t)
	t.Run("FuzzToken", func(t *testing.T) {
		seen := map[string]bool{}
		for _, entry := range readCorpus(t, "FuzzToken") {
			token := corpusString(t, entry, 0)
			seen[token] = true
			tokens.check(t, token)
		}
		for _, v := range fuzzValidTokens(t) {
			if !seen[v.token] {
				t.Errorf("testdata/fuzz/FuzzToken lacks the valid token %s; regenerate the seeds (WITHAUTH_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus .)", v.name)
			}
		}
	})
	t.Run("FuzzSignedClaims", func(t *testing.T) {
		claims := newClaimsChecker(t)
		for _, entry := range readCorpus(t, "FuzzSignedClaims") {
			claims.check(t, corpusString(t, entry, 0))
		}
	})
	t.Run("FuzzParseJWKS", func(t *testing.T) {
		for _, entry := range readCorpus(t, "FuzzParseJWKS") {
			checkJWKS(t, []byte(corpusString(t, entry, 0)))
		}
	})
	t.Run("FuzzParsePublicKeyPEM", func(t *testing.T) {
		for _, entry := range readCorpus(t, "FuzzParsePublicKeyPEM") {
			checkPEM(t, corpusString(t, entry, 0))
		}
	})
	t.Run("FuzzDPoPProof", func(t *testing.T) {
		c := newFuzzProofCase(t)
		seen := false
		for _, entry := range readCorpus(t, "FuzzDPoPProof") {
			proof := corpusString(t, entry, 0)
			seen = seen || proof == c.proof
			c.check(t, proof)
		}
		if !seen {
			t.Errorf("testdata/fuzz/FuzzDPoPProof lacks the valid proof; regenerate the seeds (WITHAUTH_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus .)")
		}
	})
	t.Run("FuzzBearerToken", func(t *testing.T) {
		for _, entry := range readCorpus(t, "FuzzBearerToken") {
			copies, ok := uint8(1), len(entry.values) == 2
			if ok {
				copies, ok = entry.values[1].(uint8)
			}
			if !ok {
				t.Fatalf("%s: want a string and a uint8", entry.file)
			}
			checkBearer(t, tokens, corpusString(t, entry, 0), copies)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora when WITHAUTH_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WITHAUTH_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set WITHAUTH_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz")
	}
	key := privateKey(t, "key-1")
	valid := fuzzValidTokens(t)
	parts := strings.Split(valid[0].token, ".")
	claims := func(changes map[string]interface{}) string {
		data, _ := json.Marshal(fuzzClaims(changes))
		return string(data)
	}
	signed := func(header, claims string) string { return signRaw(t, key, header, claims) }
	corpora := map[string]map[string][]interface{}{
		"FuzzToken": {
			"alg-none":         {segment(t, map[string]string{"alg": "none"}) + "." + parts[1] + "."},
			"alg-none-signed":  {segment(t, map[string]string{"alg": "none", "kid": "key-1"}) + "." + parts[1] + "." + parts[2]},
			"hs256-pem":        {hmacSigned(t, "HS256", "key-1", readFixture(t, "keys/key-1.pub.pem"))},
			"expired":          {signed(`{"alg":"RS256","kid":"key-1"}`, claims(map[string]interface{}{"exp": fuzzIssuedAt + 60}))},
			"no-exp":           {signed(`{"alg":"RS256","kid":"key-1"}`, claims(map[string]interface{}{"exp": nil}))},
			"access-token":     {signed(`{"alg":"RS256","kid":"key-1"}`, claims(map[string]interface{}{"type": "tenantAccessToken"}))},
			"duplicate-alg":    {signed(`{"alg":"RS256","alg":"none","kid":"key-1"}`, claims(nil))},
			"crit":             {signed(`{"alg":"RS256","crit":["b64"],"b64":false}`, claims(nil))},
			"signature-padded": {valid[0].token + "=="},
			"tampered":         {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims(map[string]interface{}{"roles": []interface{}{"owner", "admin"}}))) + "." + parts[2]},
			"jwe":              {"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"},
			"four-parts":       {valid[0].token + ".e30"},
			"leading-spaces":   {"   " + valid[0].token},
			"empty":            {""},
		},
		"FuzzSignedClaims": {
			"exp-huge":      {claims(map[string]interface{}{"exp": 1e300})},
			"exp-string":    {claims(map[string]interface{}{"exp": "4102444800"})},
			"exp-past":      {claims(map[string]interface{}{"exp": fuzzIssuedAt})},
			"roles-string":  {claims(map[string]interface{}{"roles": "admin"})},
			"roles-nested":  {claims(map[string]interface{}{"roles": []interface{}{[]interface{}{"admin"}}})},
			"control-chars": {claims(map[string]interface{}{"email": "a\r\nX-Admin: yes\x00\x7f"})},
			"deep":          {claims(nil)[:len(claims(nil))-1] + `,"deep":` + strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200) + "}"},
			"duplicate-exp": {claims(nil)[:len(claims(nil))-1] + `,"exp":1}`},
			"not-object":    {`["admin"]`},
			"null":          {`null`},
			"type-access":   {claims(map[string]interface{}{"type": "userAccessToken"})},
		},
		"FuzzParseJWKS": {
			"fixture":       {readFixture(t, "keys/jwks.json")},
			"unusable":      {unusableJWKS},
			"empty":         {[]byte(`{"keys":[]}`)},
			"single":        {jwksOf(t, jwkOf(&key.PublicKey, "key-1"))},
			"padded-n":      {[]byte(strings.Replace(string(jwksOf(t, jwkOf(&key.PublicKey, ""))), `","kty"`, `==","kty"`, 1))},
			"duplicate":     {jwksOf(t, jwkOf(&key.PublicKey, "k"), jwkOf(&privateKey(t, "key-2").PublicKey, "k"))},
			"exponent":      {[]byte(`{"keys":[{"kty":"RSA","e":"AQAAAAE","n":"` + base64.RawURLEncoding.EncodeToString(key.N.Bytes()) + `"}]}`)},
			"not-an-object": {[]byte(`[{"keys":[]}]`)},
		},
		"FuzzParsePublicKeyPEM": {
			"key-1":      {string(readFixture(t, "keys/key-1.pub.pem"))},
			"escaped":    {strings.ReplaceAll(string(readFixture(t, "keys/key-2.pub.pem")), "\n", `\n`)},
			"ec":         {string(readFixture(t, "keys/ec.pub.pem"))},
			"private":    {string(readFixture(t, "keys/key-1.key.pem"))},
			"pkcs1":      {pkcs1PEM(t)},
			"two-blocks": {string(readFixture(t, "keys/rogue.pub.pem")) + string(readFixture(t, "keys/key-1.pub.pem"))},
			"garbage":    {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
		},
		"FuzzBearerToken": {
			"valid":          {"Bearer " + valid[0].token, uint8(1)},
			"valid-spaces":   {"bearer    " + valid[0].token, uint8(1)},
			"two-headers":    {"Bearer " + valid[0].token, uint8(2)},
			"none":           {"", uint8(0)},
			"basic":          {"Basic YWRhOnB3", uint8(1)},
			"empty-token":    {"Bearer ", uint8(1)},
			"space-inside":   {"Bearer a b", uint8(1)},
			"tab":            {"Bearer\tx.y.z", uint8(1)},
			"no-separator":   {"Bearerx.y.z", uint8(1)},
			"unicode-scheme": {"BEARER\u00a0x.y.z", uint8(1)},
		},
	}
	corpora["FuzzDPoPProof"] = map[string][]interface{}{}
	for file, proof := range fuzzProofSeeds(newFuzzProofCase(t)) {
		corpora["FuzzDPoPProof"][file] = []interface{}{proof}
	}
	for name, corpus := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if name == "FuzzToken" {
			for _, v := range valid {
				corpus[v.name] = []interface{}{v.token}
			}
		}
		var names []string
		for file := range corpus {
			names = append(names, file)
		}
		sort.Strings(names)
		for _, file := range names {
			var b bytes.Buffer
			b.WriteString("go test fuzz v1\n")
			for _, value := range corpus[file] {
				switch v := value.(type) {
				case string:
					fmt.Fprintf(&b, "string(%q)\n", v)
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", v)
				case uint8:
					fmt.Fprintf(&b, "byte(%q)\n", v)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, file), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
