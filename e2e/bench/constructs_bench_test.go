package bench

import (
	"reflect"
	"testing"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"

	"github.com/seed0ec25cca/withauth/e2e/internal/yaegiplugin"
)

// BenchmarkYaegiConstructs times single constructs under Yaegi (testdata/constructs), imported as
// Traefik imports a plugin. Each sub-benchmark's ns/op includes one loop iteration (Loop).
func BenchmarkYaegiConstructs(b *testing.B) {
	goPath := tmpDir + "/constructs-gopath"
	const module = "github.com/seed0ec25cca/constructs"
	if err := harness.StagePlugin("testdata/constructs", goPath, module); err != nil {
		b.Fatal(err)
	}
	i, err := yaegiplugin.Import(goPath, module, yaegiplugin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{
		"Loop", "Function", "CrossPackageFunction", "LocalResult", "CrossPackageResult", "FunctionPtrArg", "TwoResults", "LargeFunction", "TypeSwitch", "Method", "ValueMethod", "InterfaceMethod",
		"Closure", "DeferRecover", "DeferNamedRecover", "MutexLockUnlock", "MapLookup", "TimeNowUnix", "StdlibCall",
		"HeaderDelete", "HeaderSet", "RangeStrings",
	} {
		fn, err := i.Eval("constructs." + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			fn.Call([]reflect.Value{reflect.ValueOf(b.N)})
		})
	}
}
