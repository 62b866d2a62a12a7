package withauth

// Secrets given as files (<key>File): a path, read by New, so that the secret stays out of
// Traefik's API, dashboard and logs, which show a plugin's settings as given.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// secretFile is a secret setting and the setting naming a file that holds it instead; value
// is nil for replayStore's password, which goes into its URL.
type secretFile struct {
	key, fileKey string
	value, path  func(c *Config) *string
}

// secretFiles are the secrets that may be given as a file's path. replayStore's password is
// part of its URL when given inline, so replayStorePasswordFile has a value of its own.
var secretFiles = []secretFile{
	{"apiKey", "apiKeyFile", func(c *Config) *string { return &c.APIKey }, func(c *Config) *string { return &c.APIKeyFile }},
	{"introspectionClientSecret", "introspectionClientSecretFile",
		func(c *Config) *string { return &c.IntrospectionClientSecret }, func(c *Config) *string { return &c.IntrospectionClientSecretFile }},
	{"clientKey", "clientKeyFile", func(c *Config) *string { return &c.ClientKey }, func(c *Config) *string { return &c.ClientKeyFile }},
	{"dpopNonceSecret", "dpopNonceSecretFile", func(c *Config) *string { return &c.DPoPNonceSecret }, func(c *Config) *string { return &c.DPoPNonceSecretFile }},
	{"upstreamTokenKey", "upstreamTokenKeyFile", func(c *Config) *string { return &c.UpstreamTokenKey }, func(c *Config) *string { return &c.UpstreamTokenKeyFile }},
	{"replayStore's password", "replayStorePasswordFile", nil, func(c *Config) *string { return &c.ReplayStorePasswordFile }},
}

// withSecretFiles is config with every <key>File read into its secret: one trailing newline
// trimmed, as a Kubernetes Secret or `echo` leaves it. A file that cannot be read or is empty,
// or a secret given both ways, is refused, naming the path and never the content.
func withSecretFiles(config *Config, readFile func(path string) ([]byte, error)) (*Config, error) {
	resolved := *config
	for _, s := range secretFiles {
		path := strings.TrimSpace(*s.path(&resolved))
		if path == "" {
			continue
		}
		if s.value != nil && *s.value(&resolved) != "" {
			return nil, fmt.Errorf("%s and %s: the secret is given both ways; keep %s (a file's path keeps it out of Traefik's API and dashboard)", s.key, s.fileKey, s.fileKey)
		}
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %q cannot be read (%s); mount the secret at that path, readable by Traefik", s.fileKey, path, readFailure(err))
		}
		secret := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if strings.TrimSpace(secret) == "" {
			return nil, fmt.Errorf("%s: %q is empty; put the secret in it", s.fileKey, path)
		}
		if s.value != nil {
			*s.value(&resolved) = secret
			continue
		}
		withPassword, err := withRedisPassword(resolved.ReplayStore, secret)
		if err != nil {
			return nil, err
		}
		resolved.ReplayStore = withPassword
	}
	return &resolved, nil
}

// readFailure says why a file could not be read, without its content (there is none) and without
// repeating the path.
func readFailure(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	if pathErr, ok := err.(*fs.PathError); ok {
		return pathErr.Err.Error()
	}
	return err.Error()
}

// readSecretFile is how New reads a secret file.
func readSecretFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if info.Size() > maxSecretFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretFileBytes)
	}
	return os.ReadFile(path)
}

// maxSecretFileBytes bounds a secret file: the largest secret, a PEM RSA-4096 key, is about 3.3 KB.
const maxSecretFileBytes = 64 << 10
