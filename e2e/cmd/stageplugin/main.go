// Command stageplugin lays the plugin out as Traefik reads a local plugin, in a GOPATH:
// <gopath>/src/<module>/. With -tests it adds the tests and what they read, as `yaegi test`
// runs them. make yaegi-test and make bench use it; the e2e suite calls the same functions.
//
//	go run ./cmd/stageplugin [-tests] <plugin dir> <gopath>
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

func main() {
	tests := flag.Bool("tests", false, "also the tests, README.md, testdata and internal")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: stageplugin [-tests] <plugin dir> <gopath>")
		os.Exit(2)
	}
	stage := harness.StagePlugin
	if *tests {
		stage = harness.StagePluginWithTests
	}
	if err := stage(flag.Arg(0), flag.Arg(1), harness.Module); err != nil {
		fmt.Fprintf(os.Stderr, "stageplugin: %v\n", err)
		os.Exit(1)
	}
}
