package withauth

import "context"

// verify runs the checks in the order that trusts the least: header, key, signature, claims,
// then Frontegg's token rules.
// now is in Unix nanoseconds.
func (m *Middleware) verify(ctx context.Context, token string, viaAPIKey bool, now int64) (*grant, error) {
	raw, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	// Read before the lookup: a key set replaced meanwhile leaves this grant outdated, not wrong.
	generation := m.epoch.generation.Load()
	key, err := m.keys.lookup(ctx, raw.kid)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(raw, key); err != nil {
		return nil, err
	}
	claims, err := decodeClaims(raw)
	if err != nil {
		return nil, err
	}
	exp, err := validateClaims(m.rules, claims, float64(now)/1e9)
	if err != nil {
		return nil, err
	}
	if err := checkTokenType(claims, viaAPIKey, m.frontegg != nil); err != nil {
		return nil, err
	}
	expires := cacheExpiry(exp, m.rules.skew)
	if viaAPIKey {
		trustedUntil, err := m.frontegg.checkAccessToken(claims, len(m.roles.anyOf) > 0 || len(m.permissions.anyOf) > 0)
		if err != nil {
			return nil, err
		}
		if until := trustedUntil.UnixNano(); until < expires {
			expires = until
		}
	}
	if id, ok := userID(claims); ok {
		claims["id"] = id
	} else {
		delete(claims, "id")
	}
	g := &grant{
		kid:          raw.kid,
		key:          key,
		generation:   generation,
		expires:      expires,
		usableUntil:  usableUntil(expires, m.epoch),
		allowed:      meets(m.roles, claims) && meets(m.permissions, claims),
		headerValues: make([][]string, len(m.forward)),
	}
	for i, h := range m.forward {
		var value string
		if h.allClaims {
			value = encodeClaims(claims)
		} else if claim, ok := lookupClaim(h.claim, claims); ok {
			value = headerValue(claim)
		}
		if value != "" {
			g.headerValues[i] = []string{value}
		}
	}
	return g, nil
}

// cacheExpiry turns exp plus skew (seconds) into Unix nanoseconds, clamping absurd values
// instead of overflowing.
func cacheExpiry(exp, skew float64) int64 {
	const far = 1 << 62
	limit := (exp + skew) * 1e9
	if limit > far {
		return far
	}
	return int64(limit)
}
