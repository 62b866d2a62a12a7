package withauth

// Step-up authentication per route, as @frontegg/client's validateToken({stepUp}) checks it,
// for any issuer; refused tokens get RFC 9470's challenge, so that clients step up rather than
// sign in again.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// fronteggMultiFactorACR is the acr Frontegg sets once a user passed multi-factor authentication.
const fronteggMultiFactorACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

// fronteggSecondFactors are the amr values of which Frontegg's validator wants one beside "mfa".
var fronteggSecondFactors = []string{"otp", "sms", "hwk", "sso"}

// stepUpRule is a route's step-up requirement; nil when the route has none.
type stepUpRule struct {
	acrValues map[string]bool
	// amrValues, when set (amrValues), must hold one of the token's amr; unset, amr must hold
	// "mfa" and one of fronteggSecondFactors.
	amrValues map[string]bool
	// maxAgeSeconds bounds the age of auth_time; 0 for no bound.
	maxAgeSeconds int64
	// challenge is the WWW-Authenticate value of a refusal, prepared in New.
	challenge string
}

// newStepUp checks stepUp, stepUpMaxAge, acrValues and amrValues.
func newStepUp(config *Config) (*stepUpRule, error) {
	if !config.StepUp {
		if config.StepUpMaxAge != "" || config.AcrValues != nil || config.AmrValues != nil {
			return nil, fmt.Errorf("stepUpMaxAge, acrValues and amrValues apply with stepUp: true only; set stepUp: true or remove them")
		}
		return nil, nil
	}
	acr, err := splitList("acrValues", config.AcrValues)
	if err != nil {
		return nil, err
	}
	if acr == nil {
		acr = []string{fronteggMultiFactorACR}
	}
	amr, err := splitList("amrValues", config.AmrValues)
	if err != nil {
		return nil, err
	}
	rule := &stepUpRule{acrValues: toSet(acr), amrValues: toSet(amr)}
	if config.StepUpMaxAge != "" {
		maxAge, err := parseDuration("stepUpMaxAge", config.StepUpMaxAge)
		if err != nil {
			return nil, err
		}
		if maxAge < time.Second {
			return nil, fmt.Errorf("stepUpMaxAge: %s is below 1s; give the longest time since the user's last authentication, such as \"15m\"", maxAge)
		}
		rule.maxAgeSeconds = int64(maxAge / time.Second)
	}
	rule.challenge = `Bearer realm="` + realm + `", error="insufficient_user_authentication", error_description="` +
		errStepUpRequired.Error() + `", acr_values="` + strings.Join(acr, " ") + `"`
	if rule.maxAgeSeconds > 0 {
		rule.challenge += `, max_age="` + strconv.FormatInt(rule.maxAgeSeconds, 10) + `"`
	}
	return rule, nil
}

// checkStepUp reports whether the claims show the step-up the rule wants at nowSeconds, and
// until when (Unix nanoseconds) that stays so; 0 for no bound.
func checkStepUp(rule *stepUpRule, claims map[string]interface{}, nowSeconds float64) (int64, error) {
	acr, _ := claims["acr"].(string)
	if !rule.acrValues[acr] || !amrSatisfies(rule, claims["amr"]) {
		return 0, errStepUpRequired
	}
	if rule.maxAgeSeconds == 0 {
		return 0, nil
	}
	authTime, ok := jose.NumericDate(claims["auth_time"])
	if !ok || nowSeconds > authTime+float64(rule.maxAgeSeconds) {
		return 0, errStepUpRequired
	}
	return cacheExpiry(authTime, float64(rule.maxAgeSeconds)), nil
}

// amrSatisfies reads amr, a JSON array of method names (RFC 8176).
func amrSatisfies(rule *stepUpRule, amr interface{}) bool {
	methods, _ := amr.([]interface{})
	has := func(name string) bool {
		for _, method := range methods {
			if method == name {
				return true
			}
		}
		return false
	}
	if rule.amrValues != nil {
		for name := range rule.amrValues {
			if has(name) {
				return true
			}
		}
		return false
	}
	if !has("mfa") {
		return false
	}
	for _, name := range fronteggSecondFactors {
		if has(name) {
			return true
		}
	}
	return false
}
