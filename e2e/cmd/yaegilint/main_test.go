package main

import (
	"go/parser"
	"go/token"
	"sort"
	"strings"
	"testing"
)

// TestEveryTrapIsFound: each construct of testdata/traps is reported on its line, and the
// function written as Yaegi needs it is not.
func TestEveryTrapIsFound(t *testing.T) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "testdata/traps/traps.go.txt", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int][]string{}
	for _, f := range check(fset, file) {
		got[f.pos.Line] = append(got[f.pos.Line], f.what)
	}
	want := map[int]string{
		6:  `import "slices"`,
		11: "generic type box",
		15: "sync.Pool",
		16: "atomic.Pointer",
		18: "type parameters",
		21: "errors.Is",
		22: "parallel assignment into a field",
		23: "range over an integer",
		27: "builtin min",
		37: "return of a call",
	}
	for line, what := range want {
		found := false
		for _, g := range got[line] {
			found = found || strings.Contains(g, what)
		}
		if !found {
			t.Errorf("line %d: findings %q; want one about %s", line, got[line], what)
		}
	}
	var lines []int
	for line := range got {
		if _, expected := want[line]; !expected {
			lines = append(lines, line)
		}
	}
	sort.Ints(lines)
	for _, line := range lines {
		t.Errorf("line %d: unexpected findings %q (the code there runs under Yaegi)", line, got[line])
	}
}
