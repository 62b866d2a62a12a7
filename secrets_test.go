package withauth

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSecret writes content to a file of its own in the test's directory and returns its path.
func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSecretFilesAreRead: each <key>File is read into its secret, one trailing newline (LF or
// CRLF) trimmed and no more.
func TestSecretFilesAreRead(t *testing.T) {
	cases := []struct {
		fileKey, content, want string
		value                  func(c *Config) string
	}{
		{"apiKeyFile", "frontegg-api-key\n", "frontegg-api-key", func(c *Config) string { return c.APIKey }},
		{"introspectionClientSecretFile", "s3cret\r\n", "s3cret", func(c *Config) string { return c.IntrospectionClientSecret }},
		{"clientKeyFile", "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n", "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----", func(c *Config) string { return c.ClientKey }},
		{"dpopNonceSecretFile", "two newlines\n\n", "two newlines\n", func(c *Config) string { return c.DPoPNonceSecret }},
		{"replayStorePasswordFile", "redis-password", "redis://:redis-password@redis:6379", func(c *Config) string { return c.ReplayStore }},
	}
	for _, tc := range cases {
		config, err := decodeGiven(map[string]interface{}{tc.fileKey: writeSecret(t, "secret", tc.content), "replayStore": "redis://redis:6379"})
		if err != nil {
			t.Fatalf("%s: %v", tc.fileKey, err)
		}
		resolved, err := withSecretFiles(config, readSecretFile)
		if err != nil || tc.value(resolved) != tc.want {
			t.Errorf("%s holding %q: secret %q, %v; want %q", tc.fileKey, tc.content, tc.value(resolved), err, tc.want)
		}
	}
}

// TestSecretFileRefusals: a file that cannot be read, is empty or is not a file, and a secret
// given both ways, refuse the route naming the key and the path, never the secret.
func TestSecretFileRefusals(t *testing.T) {
	const secret = "TOPSECRET-VALUE"
	dir := t.TempDir()
	cases := []struct {
		name  string
		given map[string]interface{}
		want  string
	}{
		{"a missing file", map[string]interface{}{"introspectionClientSecretFile": filepath.Join(dir, "absent")},
			`introspectionClientSecretFile: "` + filepath.Join(dir, "absent") + `" cannot be read (no such file)`},
		{"an empty file", map[string]interface{}{"apiKeyFile": writeSecret(t, "empty", "\n")}, `" is empty; put the secret in it`},
		{"a directory", map[string]interface{}{"clientKeyFile": dir}, `clientKeyFile: "` + dir + `" cannot be read (not a regular file)`},
		{"both ways", map[string]interface{}{"apiKey": secret, "apiKeyFile": writeSecret(t, "key", secret)},
			"apiKey and apiKeyFile: the secret is given both ways; keep apiKeyFile"},
		{"a password in replayStore and in a file", map[string]interface{}{"dpop": "allowed", "dpopOrigins": testOrigin,
			"replayStore": "redis://user:" + secret + "@127.0.0.1:6379", "replayStorePasswordFile": writeSecret(t, "pw", secret)},
			"replayStore's password and replayStorePasswordFile: the secret is given both ways"},
	}
	for _, tc := range cases {
		config := pemConfig(t)
		config.Given = tc.given
		config.Given["publicKey"] = config.PublicKey
		message := newError(t, config)
		if !strings.Contains(message, tc.want) || strings.Contains(message, secret) {
			t.Errorf("%s: New logged %q; want it to contain %q and never the secret", tc.name, message, tc.want)
		}
	}
}

// TestSecretFileIntrospection: the introspection endpoint gets the secret of
// introspectionClientSecretFile, read again by every New, so a reload picks up a rotated
// Secret.
func TestSecretFileIntrospection(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	s.set("opaque-token", activeAnswer(clock.Now(), nil))
	path := writeSecret(t, "secret", "an old secret\n")
	build := func() http.Handler {
		config := introspectionConfig(t, s, clock)
		config.IntrospectionClientSecret = ""
		config.IntrospectionClientSecretFile = path
		config.CacheSize = 0
		return handlerIn(newProcess(), &upstream{}, config, "introspected")
	}
	serve(build(), request("opaque-token"))
	s.mu.Lock()
	rejected := len(s.problems)
	s.mu.Unlock()
	if rejected != 1 {
		t.Fatalf("with the old secret: the endpoint saw %d bad calls; want 1", rejected)
	}
	if err := os.WriteFile(path, []byte(introspectionSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rec, _ := serve(build(), request("opaque-token")); rec.Code != http.StatusOK {
		t.Fatalf("after the Secret rotated and a reload: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) != rejected {
		t.Errorf("after the Secret rotated and a reload: bad calls %v; want none more", s.problems[rejected:])
	}
}

// TestReplayStorePasswordFile: with replayStorePasswordFile, the URL's one name is the user's
// and the password is the file's; two passwords for one URL are two stores (a pool
// authenticates once).
func TestReplayStorePasswordFile(t *testing.T) {
	timing := fetchTiming{log: testProcess(t).log}
	setting, err := withRedisPassword("redis://withauth@127.0.0.1:6379/2", "from-file")
	if err != nil {
		t.Fatal(err)
	}
	store, err := newReplayStoreSetting(setting, timing)
	if err != nil || store.username != "withauth" || store.password != "from-file" || store.database != 2 || strings.Contains(store.shown, "from-file") {
		t.Fatalf("redis://withauth@…/2 with a password file: user %q password %q db %d shown %q, %v; want withauth, from-file, 2, the password not shown",
			store.username, store.password, store.database, store.shown, err)
	}
	another, _ := withRedisPassword("redis://withauth@127.0.0.1:6379/2", "another")
	other, _ := newReplayStoreSetting(another, timing)
	if other.id == store.id {
		t.Errorf("two passwords for one URL share a store; want one each")
	}
	if _, err := withRedisPassword("process", "pw"); err == nil || !strings.HasPrefix(err.Error(), "replayStorePasswordFile: applies with replayStore redis://") {
		t.Errorf("a password file without a Redis: %v; want it refused", err)
	}
}
