package jose

import "testing"

// TestEveryAlgorithmVerifies: a signature of each algorithm verifies with its key, and with no
// key of another type or curve, nor once a byte of it changed.
func TestEveryAlgorithmVerifies(t *testing.T) {
	t.Parallel()
	k := keys(t)
	for _, alg := range allAlgorithms {
		token, err := Parse(sign(t, k.signerOf(alg), map[string]interface{}{"alg": alg}, map[string]interface{}{"sub": "a"}), acceptAll(), nil)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if err := Verify(token, &Key{Public: k.signerOf(alg).Public()}); err != nil {
			t.Errorf("%s with its key: %v; want verified", alg, err)
		}
		for _, other := range allAlgorithms {
			key := &Key{Public: k.signerOf(other).Public()}
			if KeyAllows(key, alg) != (keyName(other) == keyName(alg)) {
				t.Errorf("KeyAllows(%s's key, %s) = %v", other, alg, KeyAllows(key, alg))
			}
		}
		token.Signature[len(token.Signature)/2] ^= 1
		if err := Verify(token, &Key{Public: k.signerOf(alg).Public()}); err != ErrBadSignature {
			t.Errorf("%s with a byte of its signature changed: %v; want ErrBadSignature", alg, err)
		}
	}
}

// keyName names the test key that signs alg: algorithms of one name share the key.
func keyName(alg string) string {
	switch alg[:2] {
	case "RS", "PS":
		return "rsa"
	case "ES":
		return alg
	}
	return "ed25519"
}

// signedByEach is one token signed by each algorithm's key, made once.
var signedByEach map[string]*Token

// shortcutCase is one input of the shortcut's property, from four bytes: the header's alg, the
// key's JWK alg (or none), the algorithm (and key) that signed, the key that verifies; a fifth
// bit drops the signature's last byte.
func shortcutCase(t testing.TB, data []byte) (*Token, *Key) {
	k := keys(t)
	if signedByEach == nil {
		signedByEach = map[string]*Token{}
		for _, alg := range allAlgorithms {
			token, err := Parse(sign(t, k.signerOf(alg), map[string]interface{}{"alg": alg}, map[string]interface{}{"sub": "a"}), acceptAll(), nil)
			if err != nil {
				t.Fatal(err)
			}
			signedByEach[alg] = token
		}
	}
	for len(data) < 4 {
		data = append(data, 0)
	}
	headers := []string{"RS256", "RS384", "PS256", "ES256", "EdDSA", "HS256", ""}
	jwkAlgs := []string{"", "RS256", "RS384", "PS256", "ES256"}
	signed := *signedByEach[allAlgorithms[int(data[2])%len(allAlgorithms)]]
	signed.Alg = headers[int(data[0])%len(headers)] // the header may name another algorithm than the one that signed
	if data[0]&0x80 != 0 {
		signed.Signature = signed.Signature[:len(signed.Signature)-1]
	}
	key := &Key{Public: k.signerOf(allAlgorithms[int(data[3])%len(allAlgorithms)]).Public(), Alg: jwkAlgs[int(data[1])%len(jwkAlgs)]}
	return &signed, key
}

// TestRS256ShortcutIsTheGeneralRule: Verify's RS256 shortcut accepts exactly what the general
// rule (verifyOtherAlgorithm: KeyAllows, the signature's size, the verification) accepts, with the
// same error, over every combination of header alg, JWK alg, signing key and verifying key.
func TestRS256ShortcutIsTheGeneralRule(t *testing.T) {
	for a := 0; a < 7; a++ {
		for b := 0; b < 5; b++ {
			for c := 0; c < 10; c++ {
				for d := 0; d < 10; d++ {
					checkShortcut(t, []byte{byte(a), byte(b), byte(c), byte(d)})
					checkShortcut(t, []byte{byte(a) | 0x80, byte(b), byte(c), byte(d)})
				}
			}
		}
	}
}

func checkShortcut(t testing.TB, data []byte) {
	token, key := shortcutCase(t, data)
	if got, want := Verify(token, key), verifyOtherAlgorithm(token, key); got != want {
		t.Fatalf("header alg %q, JWK alg %q, key %T: Verify %v, the general rule %v; want the same", token.Alg, key.Alg, key.Public, got, want)
	}
}

// FuzzRS256Shortcut is TestRS256ShortcutIsTheGeneralRule over inputs the fuzzer chooses.
func FuzzRS256Shortcut(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0, 3, 0, 0})
	f.Add([]byte{0, 12, 6, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkShortcut(t, data)
	})
}
