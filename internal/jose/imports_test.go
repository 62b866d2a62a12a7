package jose

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTheCoreIsPure: the token core imports no I/O, logging, locking or configuration: none of
// net, net/http, net/url, os, log, io/fs, sync, nor another package of the module.
func TestTheCoreIsPure(t *testing.T) {
	t.Parallel()
	refused := map[string]bool{"net": true, "net/http": true, "net/url": true, "os": true, "log": true, "io/fs": true, "sync": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range file.Imports {
			path, _ := strconv.Unquote(spec.Path.Value)
			if refused[path] || strings.HasPrefix(path, "github.com/seed0ec25cca/") {
				t.Errorf("%s imports %s; the token core does no I/O, logging or locking, and depends on no other package of the module", name, path)
			}
		}
	}
}
