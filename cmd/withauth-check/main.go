// Command withauth-check checks Traefik configuration files before they are deployed: every
// withauth middleware is judged by the plugin's own validation (the same messages as Traefik's
// log), and the routers Traefik would drop (a middleware or plugin it cannot find) are found,
// with the catch-all routers that would then serve their paths unauthenticated.
//
//	withauth-check [-format text|json] [-plugin withauth] file...
//
// Files: Traefik's dynamic configuration (YAML, TOML, JSON), its static configuration (for the
// plugins it declares), docker-compose files (labels, Traefik's command line), Kubernetes
// manifests (Middleware, IngressRoute, Ingress, Secret, Traefik's Deployment). One line per
// finding, file:line: subject: key: problem; fix. Exit status 1 when an error is found, 2 when a file
// cannot be read.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("withauth-check", flag.ContinueOnError)
	flags.SetOutput(stderr)
	format := flags.String("format", "text", "text (file:line: subject: message) or json (an array, for CI annotations)")
	plugin := flags.String("plugin", "withauth", "withauth's name under plugin: when no static configuration declares it")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() == 0 || (*format != "text" && *format != "json") {
		fmt.Fprintln(stderr, "usage: withauth-check [-format text|json] [-plugin withauth] file...")
		return 2
	}
	m := newModel()
	for _, path := range flags.Args() {
		if err := m.read(path); err != nil {
			fmt.Fprintln(stderr, "withauth-check:", err)
			return 2
		}
	}
	findings := check(m, *plugin)
	if *format == "json" {
		writeJSON(stdout, findings)
	} else {
		for _, f := range findings {
			fmt.Fprintln(stdout, f.String())
		}
	}
	errors := 0
	for _, f := range findings {
		if f.severity == errorSeverity {
			errors++
		}
	}
	if *format == "text" {
		fmt.Fprintf(stderr, "withauth-check: %d files, %d findings, %d errors\n", flags.NArg(), len(findings), errors)
	}
	if errors > 0 {
		return 1
	}
	return 0
}

// String is the finding's line: file:line: subject: key: problem; fix, the message marked
// "warning:" or "note:" unless it is an error.
func (f finding) String() string {
	if f.severity != errorSeverity {
		return fmt.Sprintf("%s:%d: %s: %s: %s", f.at.file, f.at.line, f.subject, f.severity, f.message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", f.at.file, f.at.line, f.subject, f.message)
}

func writeJSON(w io.Writer, findings []finding) {
	type entry struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Severity string `json:"severity"`
		Subject  string `json:"subject"`
		Key      string `json:"key,omitempty"`
		Message  string `json:"message"`
	}
	entries := make([]entry, 0, len(findings))
	for _, f := range findings {
		entries = append(entries, entry{f.at.file, f.at.line, string(f.severity), f.subject, f.key, f.message})
	}
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	_ = encoder.Encode(entries)
}
