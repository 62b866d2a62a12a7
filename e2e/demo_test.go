package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// TestDemo runs `make demo`'s program with DEMO_EXIT=1: every row of its table must be as
// expected, it must print curl commands, and it must remove what it started.
func TestDemo(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "demo")
	if err := harness.BuildGo(ctx, filepath.Join(root, "e2e"), "./cmd/demo", bin); err != nil {
		t.Fatal(err)
	}
	env := []string{"DEMO_EXIT=1"}
	for _, key := range []string{"DEMO_PORT", "DEMO_IDP_PORT", "DEMO_BACKEND_PORT"} {
		port, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, fmt.Sprintf("%s=%d", key, port))
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	if got, want := strings.Count(text, "\n✓ "), len(harness.GuideCases()); got != want || strings.Contains(text, "✗") {
		t.Errorf("demo table: %d rows marked ✓, want %d and none ✗:\n%s", got, want, text)
	}
	// make test builds Traefik before the e2e stage: the demo must not announce a build.
	if strings.Contains(text, "minutes") {
		t.Errorf("the demo announced a build of Traefik, which is cached:\n%s", text)
	}
	for _, want := range []string{"ALICE='ey", "BOB='ey", `curl -i -H "Authorization: Bearer $ALICE"`, "/token?"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// The log the demo names outlives it (Traefik's own directory does not).
	if m := regexp.MustCompile(`log: (\S+demo-traefik\.log)\)`).FindStringSubmatch(text); m == nil {
		t.Errorf("demo output does not name Traefik's log:\n%s", text)
	} else if log, err := os.ReadFile(m[1]); err != nil || !strings.Contains(string(log), "Traefik version 3.6.12") {
		t.Errorf("after the demo, its log %s: %v, %d bytes; want Traefik's log (its version line)", m[1], err, len(log))
	}
}
