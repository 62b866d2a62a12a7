package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The demo addresses the file-provider examples use (e2e/cmd/idp and e2e/cmd/backend defaults).
const (
	ExampleIdPURL     = "http://127.0.0.1:9000"
	ExampleBackendURL = "http://127.0.0.1:9001"
)

// ReadExample reads examples/<name> of the repository.
func ReadExample(root, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "examples", filepath.FromSlash(name)))
	return string(data), err
}

// Localize replaces addresses in an example with the ones of the running demo (old -> new). Every
// old address must occur: an example that stopped using it no longer matches the demo.
func Localize(name, content string, addresses map[string]string) (string, error) {
	for old, replacement := range addresses {
		if !strings.Contains(content, old) {
			return "", fmt.Errorf("%s does not mention %s, the demo address it is expected to use", name, old)
		}
		content = strings.ReplaceAll(content, old, replacement)
	}
	return content, nil
}
