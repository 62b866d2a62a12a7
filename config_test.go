package withauth

import (
	"net/http"
	"strings"
	"testing"
)

// TestEmptyListValuesAreRefused: Traefik decodes "" (an empty label, an unset ${VARIABLE}, an
// empty Secret value) into an empty list; taken as "nothing required" it opened /admin to
// every signed-in user.
func TestEmptyListValuesAreRefused(t *testing.T) {
	for _, key := range []string{"roles", "permissions", "audience"} {
		config := pemConfig(t)
		switch key {
		case "roles":
			config.Roles = []string{}
		case "permissions":
			config.Permissions = []string{}
		case "audience":
			config.Audience = []string{}
		}
		got := newError(t, config)
		if want := key + ": is set but empty"; !strings.Contains(got, want) || !strings.Contains(got, "remove the key to require nothing") {
			t.Errorf("%s: []: New error %q; want it to contain %q and say to remove the key to require nothing", key, got, want)
		}
	}
	// Absent (nil, as CreateConfig leaves it) still means nothing required.
	rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(validToken(t)))
	if rec.Code != http.StatusOK {
		t.Fatalf("no roles, permissions or audience configured: status %d; want 200", rec.Code)
	}
}

func TestEmptyNamesInConfigAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"an empty role among others", func(c *Config) { c.Roles = []string{"admin", ""} }, "roles: "},
		{"a trailing comma in roles", func(c *Config) { c.Roles = []string{"admin,"} }, "roles: "},
		{"a leading comma in roles", func(c *Config) { c.Roles = []string{",admin"} }, "roles: "},
		{"a role of white space", func(c *Config) { c.Roles = []string{"\t"} }, "roles: "},
		{"a trailing comma in permissions", func(c *Config) { c.Permissions = []string{"uploadFile,"} }, "permissions: "},
		{"an empty audience", func(c *Config) { c.Audience = []string{""} }, "audience: "},
		{"an empty permissionsClaim", func(c *Config) { c.PermissionsClaim = "" }, "permissionsClaim: "},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := pemConfig(t)
			tc.change(config)
			if got := newError(t, config); !strings.Contains(got, tc.wantErr) {
				t.Fatalf("New's log line = %q; want it to contain %q (an empty name must not turn into no requirement)", got, tc.wantErr)
			}
		})
	}
}

// TestUnknownKeysAreRefusedWithTheClosestKey: Traefik drops keys that match no field, so a
// misspelled requirement silently opened the route.
func TestUnknownKeysAreRefusedWithTheClosestKey(t *testing.T) {
	cases := []struct {
		key, want string
	}{
		{"role", `unknown key "role" (did you mean roles?)`},
		{"permission", `unknown key "permission" (did you mean permissions?)`},
		{"audiences", `unknown key "audiences" (did you mean audience?)`},
		{"roles ", `unknown key "roles " (did you mean roles?)`},
		{"JWKS_URL", `unknown key "JWKS_URL" (did you mean jwksUrl?)`},
		{"xyzzy", `unknown key "xyzzy": a misspelled key`},
	}
	for _, tc := range cases {
		config := givenConfig(t, map[string]interface{}{tc.key: "admin"})
		if got := newError(t, config); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "withauth route: ") {
			t.Errorf("unknown key %q: New error %q; want it to start with \"withauth route: \" and contain %q", tc.key, got, tc.want)
		}
	}
	config := givenConfig(t, map[string]interface{}{"role": "admin", "permision": "x"})
	if got := newError(t, config); !strings.Contains(got, `"permision" (did you mean permissions?), "role" (did you mean roles?)`) {
		t.Errorf("two unknown keys: New error %q; want both named, sorted, each with its closest key", got)
	}
}

// TestMinRefreshIntervalHasAFloor: with "0s", 30 tokens naming made-up kids made 30 fetches.
func TestMinRefreshIntervalHasAFloor(t *testing.T) {
	for _, value := range []string{"0s", "500ms"} {
		config := CreateConfig()
		config.JWKSURL = "https://idp.example/jwks"
		config.MinRefreshInterval = value
		if got := newError(t, config); !strings.Contains(got, "minRefreshInterval: "+value+" is below 1s") {
			t.Errorf("minRefreshInterval %q: New error %q; want \"minRefreshInterval: %s is below 1s\"", value, got, value)
		}
	}
	config := CreateConfig()
	config.JWKSURL = "https://idp.example/jwks"
	config.MinRefreshInterval = "1s"
	config.RefreshInterval = "500ms" // shorter than minRefreshInterval: a legitimate setting
	if _, err := build(testProcess(t), &upstream{}, config, "route"); err != nil {
		t.Fatalf("minRefreshInterval 1s, refreshInterval 500ms: New error %v; want it accepted", err)
	}
}
