// Command yaegilint reports the constructs that Traefik's interpreter, Yaegi v0.16.1, cannot run
// or runs wrongly, in the Go files of one directory (the plugin's root package, tests included:
// `yaegi test` interprets them too). It reads syntax only; each finding names the file, the
// line and the trap, and the exit status is 1 when there is one.
//
//	go run ./cmd/yaegilint <dir>
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// unavailableImports are packages newer than Yaegi v0.16.1's standard library symbols, or
// generic ones it cannot instantiate.
var unavailableImports = map[string]string{
	"slices": "generic package", "maps": "generic package", "iter": "range-over-func package",
	"unique": "newer than Yaegi's symbols", "weak": "newer than Yaegi's symbols",
}

// trappedSelectors are package members that do not work under Yaegi v0.16.1.
var trappedSelectors = map[string]string{
	"atomic.Pointer": "generic type (use atomic.Value)",
	"sync.Pool":      "unreliable under Yaegi",
	"errors.As":      "fails on interpreted error types (compare sentinels with ==)",
	"errors.Is":      "fails on interpreted error types (compare sentinels with ==)",
}

// builtins newer than Go 1.21 that Yaegi v0.16.1 does not know.
var newBuiltins = map[string]bool{"min": true, "max": true, "clear": true}

type finding struct {
	pos  token.Position
	what string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: yaegilint <dir> [<dir> ...]")
		os.Exit(2)
	}
	var files []string
	for _, dir := range os.Args[1:] {
		matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(matches) == 0 {
			fmt.Fprintf(os.Stderr, "yaegilint: no Go files in %s\n", dir)
			os.Exit(2)
		}
		files = append(files, matches...)
	}
	fset := token.NewFileSet()
	var findings []finding
	for _, name := range files {
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "yaegilint: %v\n", err)
			os.Exit(2)
		}
		findings = append(findings, check(fset, file)...)
	}
	sort.Slice(findings, func(i, j int) bool {
		a, b := findings[i].pos, findings[j].pos
		return a.Filename < b.Filename || a.Filename == b.Filename && a.Line < b.Line
	})
	for _, f := range findings {
		fmt.Printf("%s:%d: %s\n", f.pos.Filename, f.pos.Line, f.what)
	}
	fmt.Printf("yaegilint: %d files, %d findings\n", len(files), len(findings))
	if len(findings) > 0 {
		os.Exit(1)
	}
}

func check(fset *token.FileSet, file *ast.File) []finding {
	var out []finding
	report := func(node ast.Node, format string, args ...interface{}) {
		out = append(out, finding{fset.Position(node.Pos()), fmt.Sprintf(format, args...)})
	}
	for _, spec := range file.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		if why, bad := unavailableImports[path]; bad {
			report(spec, "import %q: %s", path, why)
		}
	}
	declared := map[string]bool{} // package-level names that shadow a builtin
	for _, decl := range file.Decls {
		if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
			declared[fn.Name.Name] = true
		}
	}
	ast.Inspect(file, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.FuncType:
			if n.TypeParams != nil && len(n.TypeParams.List) > 0 {
				report(n, "type parameters: Yaegi v0.16.1 runs generic code unreliably")
			}
		case *ast.TypeSpec:
			if n.TypeParams != nil && len(n.TypeParams.List) > 0 {
				report(n, "generic type %s: Yaegi v0.16.1 runs generic code unreliably", n.Name.Name)
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && newBuiltins[id.Name] && id.Obj == nil && !declared[id.Name] {
				report(n, "builtin %s: newer than Yaegi v0.16.1", id.Name)
			}
		case *ast.SelectorExpr:
			if pkg, ok := n.X.(*ast.Ident); ok {
				if why, bad := trappedSelectors[pkg.Name+"."+n.Sel.Name]; bad {
					report(n, "%s.%s: %s", pkg.Name, n.Sel.Name, why)
				}
			}
		case *ast.RangeStmt:
			if lit, ok := n.X.(*ast.BasicLit); ok && lit.Kind == token.INT {
				report(n, "range over an integer: Go 1.22, not Yaegi v0.16.1")
			}
			if _, ok := n.X.(*ast.FuncLit); ok {
				report(n, "range over a function: Go 1.23, not Yaegi v0.16.1")
			}
		case *ast.AssignStmt:
			if len(n.Lhs) > 1 && len(n.Rhs) == len(n.Lhs) {
				for _, lhs := range n.Lhs {
					if _, field := lhs.(*ast.SelectorExpr); field {
						report(n, "parallel assignment into a field: Yaegi v0.16.1 can drop one of the values; assign one at a time")
						break
					}
				}
			}
		case *ast.FuncDecl:
			checkReturnedCalls(n, report)
		}
		return true
	})
	return out
}

// checkReturnedCalls reports `return f()` in a function whose results are (http.Handler,
// error): Yaegi v0.16.1 loses the error when f returns (*T, error).
func checkReturnedCalls(fn *ast.FuncDecl, report func(ast.Node, string, ...interface{})) {
	results := fn.Type.Results
	if fn.Body == nil || results == nil || results.NumFields() != 2 || typeName(results.List[0].Type) != "http.Handler" {
		return
	}
	ast.Inspect(fn.Body, func(node ast.Node) bool {
		if _, nested := node.(*ast.FuncLit); nested {
			return false
		}
		if ret, ok := node.(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
			if _, call := ret.Results[0].(*ast.CallExpr); call {
				report(ret, "return of a call from a function returning (http.Handler, error): Yaegi v0.16.1 can lose the error; assign, then return")
			}
		}
		return true
	})
}

func typeName(expr ast.Expr) string {
	if sel, ok := expr.(*ast.SelectorExpr); ok {
		if pkg, ok := sel.X.(*ast.Ident); ok {
			return pkg.Name + "." + sel.Sel.Name
		}
	}
	return ""
}
