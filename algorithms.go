package withauth

// The algorithms a route accepts (algorithms): the token core (internal/jose) knows how each
// verifies and which key may.

import (
	"fmt"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// newAlgorithms checks algorithms (default RS256). none and HS* are refused by name: a public
// key must never double as an HMAC secret.
func newAlgorithms(values []string) (map[string]bool, error) {
	if values == nil {
		return map[string]bool{"RS256": true}, nil
	}
	names, err := splitList("algorithms", values)
	if err != nil {
		return nil, err
	}
	accepted := make(map[string]bool, len(names))
	for _, name := range names {
		if !jose.Supported(name) {
			return nil, fmt.Errorf("algorithms: %q is not supported; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (none and HS* never: withauth verifies with public keys)", name)
		}
		accepted[name] = true
	}
	return accepted, nil
}
