package jose

// The registered claims of a verified token (RFC 7519 §4.1): exp, nbf, iat, iss, aud.

import "encoding/json"

// ClaimRules are the registered-claim checks of a route.
type ClaimRules struct {
	Issuer      string
	Audiences   map[string]bool
	SkewSeconds float64
	// MaxAgeSeconds, when positive, bounds exp - iat (maxTokenAge); a token without iat fails.
	MaxAgeSeconds float64
}

// NumericDate reads a NumericDate claim (RFC 7519 section 2) as Unix seconds.
func NumericDate(value interface{}) (float64, bool) {
	number, ok := value.(json.Number)
	if !ok {
		return 0, false
	}
	seconds, err := number.Float64()
	return seconds, err == nil
}

// ValidateClaims checks exp (required), nbf, iat, iss and aud at nowSeconds (Unix time). It
// returns exp, which bounds how long the verified token may be trusted. One function, since
// under Yaegi a call costs more than the statements it saves.
func ValidateClaims(r *ClaimRules, claims map[string]interface{}, nowSeconds float64) (float64, error) {
	exp, ok := NumericDate(claims["exp"])
	if !ok {
		return 0, ErrNoExpiry
	}
	if nowSeconds > exp+r.SkewSeconds {
		return 0, ErrExpired
	}
	latest := nowSeconds + r.SkewSeconds
	if nbf, present := claims["nbf"]; present {
		if date, ok := NumericDate(nbf); !ok {
			return 0, ErrBadTimeClaim
		} else if date > latest {
			return 0, ErrNotYetValid
		}
	}
	if iat, present := claims["iat"]; present {
		if date, ok := NumericDate(iat); !ok {
			return 0, ErrBadTimeClaim
		} else if date > latest {
			return 0, ErrIssuedInFuture
		}
	}
	if r.MaxAgeSeconds > 0 {
		iat, ok := NumericDate(claims["iat"])
		if !ok || exp-iat > r.MaxAgeSeconds {
			return 0, ErrTokenLifetime
		}
	}
	if r.Issuer != "" {
		if iss, present := claims["iss"]; !present {
			return 0, ErrNoIssuer
		} else if iss != r.Issuer {
			return 0, ErrIssuer
		}
	}
	if len(r.Audiences) > 0 && !audienceMatches(r.Audiences, claims["aud"]) {
		return 0, ErrAudience
	}
	return exp, nil
}

// audienceMatches accepts aud as a string or an array of strings (RFC 7519 section 4.1.3).
func audienceMatches(audiences map[string]bool, aud interface{}) bool {
	switch v := aud.(type) {
	case string:
		return audiences[v]
	case []interface{}:
		for _, item := range v {
			if s, ok := item.(string); ok && audiences[s] {
				return true
			}
		}
	}
	return false
}
