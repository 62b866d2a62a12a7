package withauth

import (
	"encoding/base64"
	"strings"
	"testing"
)

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
