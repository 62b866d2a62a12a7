package withauth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const mfaACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

func stepUpClaims(changes map[string]interface{}) func(testing.TB) string {
	base := map[string]interface{}{"acr": mfaACR, "amr": []interface{}{"pwd", "mfa", "otp"}, "auth_time": time.Now().Unix() - 60}
	for name, value := range changes {
		base[name] = value
	}
	return tokenWith(base)
}

// TestStepUp: stepUp wants Frontegg's multi-factor acr and amr, as @frontegg/client's step-up
// validator does; a token that fails only that gets RFC 9470's challenge.
func TestStepUp(t *testing.T) {
	stepUp := func(c *Config) { c.StepUp = true }
	maxAge := func(c *Config) { c.StepUp = true; c.StepUpMaxAge = "5m" }
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "multi-factor acr, amr mfa and otp", config: stepUp, token: stepUpClaims(nil), wantStatus: 200},
		{name: "amr mfa and sso", config: stepUp, token: stepUpClaims(map[string]interface{}{"amr": []interface{}{"mfa", "sso"}}), wantStatus: 200},
		{name: "no acr", config: stepUp, token: stepUpClaims(map[string]interface{}{"acr": nil}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "another acr", config: stepUp, token: stepUpClaims(map[string]interface{}{"acr": "1"}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "amr without mfa", config: stepUp, token: stepUpClaims(map[string]interface{}{"amr": []interface{}{"pwd", "otp"}}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "amr mfa alone", config: stepUp, token: stepUpClaims(map[string]interface{}{"amr": []interface{}{"mfa"}}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "amr a string", config: stepUp, token: stepUpClaims(map[string]interface{}{"amr": "mfa otp"}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "recent enough for stepUpMaxAge", config: maxAge, token: stepUpClaims(nil), wantStatus: 200},
		{name: "older than stepUpMaxAge", config: maxAge, token: stepUpClaims(map[string]interface{}{"auth_time": time.Now().Unix() - 600}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "stepUpMaxAge without auth_time", config: maxAge, token: stepUpClaims(map[string]interface{}{"auth_time": nil}), wantStatus: 401, wantError: "insufficient_user_authentication"},
		{name: "acrValues and amrValues of another provider", config: func(c *Config) {
			c.StepUp = true
			c.AcrValues = []string{"urn:mace:incommon:iap:silver"}
			c.AmrValues = []string{"hwk", "face"}
		}, token: stepUpClaims(map[string]interface{}{"acr": "urn:mace:incommon:iap:silver", "amr": []interface{}{"hwk"}}), wantStatus: 200},
		{name: "no step-up required", token: validToken, wantStatus: 200},
	})

	for _, tc := range []struct {
		config func(*Config)
		want   string
	}{
		{stepUp, `Bearer realm="withauth", error="insufficient_user_authentication", error_description="this route requires a stronger, or more recent, authentication", acr_values="` + mfaACR + `"`},
		{maxAge, `Bearer realm="withauth", error="insufficient_user_authentication", error_description="this route requires a stronger, or more recent, authentication", acr_values="` + mfaACR + `", max_age="300"`},
	} {
		config := pemConfig(t)
		tc.config(config)
		rec, _ := serve(newHandler(t, config, &upstream{}), request(validToken(t)))
		if got := rec.Header().Get("WWW-Authenticate"); rec.Code != http.StatusUnauthorized || got != tc.want {
			t.Errorf("a token without step-up: status %d, WWW-Authenticate %s; want 401 and %s", rec.Code, got, tc.want)
		}
	}
}

// TestStepUpMaxAgeBoundsCachedGrants: a cached grant stops being usable once auth_time +
// stepUpMaxAge passes.
func TestStepUpMaxAgeBoundsCachedGrants(t *testing.T) {
	config := pemConfig(t)
	config.StepUp = true
	config.StepUpMaxAge = "2s"
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	token := stepUpClaims(map[string]interface{}{"auth_time": clock.Now().Unix() - 1})(t)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
		t.Fatalf("authenticated a second ago: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
	clock.Advance(2100 * time.Millisecond)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `max_age="2"`) {
		t.Fatalf("the same token past auth_time + stepUpMaxAge: status %d, %s; want 401 with the step-up challenge", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestStepUpConfiguration(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.StepUpMaxAge = "5m" }, "apply with stepUp: true only"},
		{func(c *Config) { c.AcrValues = []string{"x"} }, "apply with stepUp: true only"},
		{func(c *Config) { c.StepUp = true; c.StepUpMaxAge = "0s" }, "stepUpMaxAge: 0s is below 1s"},
		{func(c *Config) { c.StepUp = true; c.StepUpMaxAge = "soon" }, `stepUpMaxAge: "soon" is not a duration`},
		{func(c *Config) { c.StepUp = true; c.AmrValues = []string{} }, "amrValues: is set but empty"},
	} {
		config := pemConfig(t)
		tc.change(config)
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("New error %q; want it to contain %q", got, tc.want)
		}
	}
}
