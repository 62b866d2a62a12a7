package harness

import "testing"

func TestFlagToEnv(t *testing.T) {
	for flag, want := range map[string]string{
		"--experimental.localPlugins.withauth.moduleName=" + Module: "TRAEFIK_EXPERIMENTAL_LOCALPLUGINS_WITHAUTH_MODULENAME=" + Module,
		"--entryPoints.web.address=127.0.0.1:80":                    "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=127.0.0.1:80",
		"--api.insecure=true":                                       "TRAEFIK_API_INSECURE=true",
	} {
		if got := FlagToEnv(flag); got != want {
			t.Errorf("FlagToEnv(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestLocalizeNeedsEveryAddress(t *testing.T) {
	got, err := Localize("x", "a http://old:1/x http://old:1", map[string]string{"http://old:1": "http://new:2"})
	if err != nil || got != "a http://new:2/x http://new:2" {
		t.Errorf("Localize = %q, %v", got, err)
	}
	if _, err := Localize("x", "nothing here", map[string]string{"http://old:1": "http://new:2"}); err == nil {
		t.Error("Localize accepted an example that does not mention the address")
	}
}
