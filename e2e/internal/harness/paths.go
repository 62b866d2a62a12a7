// Package harness runs the withauth plugin inside a real Traefik binary: it lays the plugin out
// as a Traefik local plugin in a temporary directory, writes the static and dynamic
// configuration, starts Traefik on free 127.0.0.1 ports and stops it again.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Module is the plugin's Go module path (its moduleName in Traefik's static configuration).
const Module = "github.com/seed0ec25cca/withauth"

// PluginName is the plugin's key under experimental.localPlugins and in middleware configs.
const PluginName = "withauth"

// RepoRoot finds the plugin repository: $WITHAUTH_ROOT, or the nearest parent of the working
// directory whose go.mod declares the plugin module.
func RepoRoot() (string, error) {
	if dir := os.Getenv("WITHAUTH_ROOT"); dir != "" {
		return filepath.Abs(dir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(data) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no parent directory has a go.mod for module %s (set WITHAUTH_ROOT)", Module)
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// TraefikBinary returns $TRAEFIK_BIN, or the cached Traefik built by e2e/scripts/build-traefik.sh
// (which builds it the first time, for about 13 minutes; `make traefik` does that ahead of tests).
// progress receives the script's messages; it may be nil.
func TraefikBinary(ctx context.Context, root string, progress io.Writer) (string, error) {
	if bin := os.Getenv("TRAEFIK_BIN"); bin != "" {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
	defer cancel()
	return RunBuildScript(ctx, root, "build-traefik.sh", progress)
}

// RunBuildScript runs e2e/scripts/<script>, which builds a program once into ~/.cache/withauth
// and prints its path (a file or a directory) on its last line, and returns that path.
// progress receives the script's messages; it may be nil.
func RunBuildScript(ctx context.Context, root, script string, progress io.Writer) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "e2e", "scripts", script))
	cmd.Dir = root
	cmd.Stdout = &out
	if progress == nil {
		progress = io.Discard
	}
	cmd.Stderr = progress
	// Its own process group, so that cancelling also ends the go build it runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("e2e/scripts/%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	path := lines[len(lines)-1]
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s printed %q, which does not exist: %w", script, path, err)
	}
	return path, nil
}

// PluginFiles lists the files Traefik interprets of a plugin in root: .traefik.yml (when there
// is one), go.mod and the root package's non-test .go files.
func PluginFiles(root string) ([]string, error) {
	names := []string{"go.mod"}
	if _, err := os.Stat(filepath.Join(root, ".traefik.yml")); err == nil {
		names = append(names, ".traefik.yml")
	}
	matches, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		return nil, err
	}
	n := 0
	for _, m := range matches {
		if name := filepath.Base(m); !strings.HasSuffix(name, "_test.go") {
			names = append(names, name)
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no plugin .go files", root)
	}
	// The module's other packages (internal/…, or a benchmark module's own), as Traefik reads the
	// whole plugin directory: their non-test .go files.
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "e2e" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Dir(rel) != "." && strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			names = append(names, rel)
		}
		return nil
	})
	return names, err
}

// StagePlugin lays the plugin in srcDir out as Traefik and Yaegi read a local plugin:
// <goPath>/src/<module>/{.traefik.yml,go.mod,*.go}.
func StagePlugin(srcDir, goPath, module string) error {
	names, err := PluginFiles(srcDir)
	if err != nil {
		return err
	}
	return copyInto(srcDir, filepath.Join(goPath, "src", filepath.FromSlash(module)), names)
}

// testFiles are what `yaegi test` reads of the plugin beside the files Traefik interprets.
var testFiles = []string{"*_test.go", "README.md", "docs", "testdata", "internal"}

// StagePluginWithTests is StagePlugin plus the tests and what they read (testFiles): the
// plugin as `yaegi test` runs it (make yaegi-test, make bench's stage benchmarks).
func StagePluginWithTests(srcDir, goPath, module string) error {
	dst := filepath.Join(goPath, "src", filepath.FromSlash(module))
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := StagePlugin(srcDir, goPath, module); err != nil {
		return err
	}
	var names []string
	for _, pattern := range testFiles {
		matches, err := filepath.Glob(filepath.Join(srcDir, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			names = append(names, filepath.Base(m))
		}
	}
	return copyInto(srcDir, dst, names)
}

// copyInto copies the named files and directories (recursively) of srcDir into dst.
func copyInto(srcDir, dst string, names []string) error {
	for _, name := range names {
		root := filepath.Join(srcDir, name)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(srcDir, path)
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("plugin file: %w", err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
