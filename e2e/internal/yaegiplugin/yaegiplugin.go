// Package yaegiplugin loads a Traefik middleware plugin under Yaegi the way Traefik v3.6.12
// does for a local plugin (pkg/plugins/middlewareyaegi.go and builder.go):
//
//   - the plugin's files are laid out in a GOPATH at src/<moduleName>/ (Traefik: ./plugins-local/);
//   - interp.New with that GoPath and os.Environ(), then Use(stdlib.Symbols);
//   - Eval(`import "<moduleName>"`), then Eval("<pkg>.New") and Eval("<pkg>.CreateConfig");
//   - the config is CreateConfig()'s result decoded from a map[string]any by mapstructure
//     with StringToSliceHookFunc(",") and WeaklyTypedInput;
//   - the handler is New(ctx, next, cfg, name) called through reflect.Value.Call.
//
// Left out: Traefik's provider symbols (ppSymbols: only provider plugins import them) and its
// zerolog writers for the plugin's stdout and stderr (here they go to io.Discard unless set).
package yaegiplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"

	"github.com/mitchellh/mapstructure"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// Plugin is an interpreted plugin package: its New and CreateConfig functions.
type Plugin struct {
	Interp         *interp.Interpreter
	fnNew          reflect.Value
	fnCreateConfig reflect.Value
}

// Options tune Load.
type Options struct {
	// Stdout and Stderr receive what the plugin prints; io.Discard when nil.
	Stdout, Stderr io.Writer
}

// Import returns an interpreter that has imported moduleName from goPath as Traefik's
// newInterpreter does: interp.New with GoPath and os.Environ(), stdlib.Symbols, Eval of the import.
func Import(goPath, moduleName string, opts Options) (*interp.Interpreter, error) {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	i := interp.New(interp.Options{
		GoPath: goPath,
		Env:    os.Environ(),
		Stdout: opts.Stdout,
		Stderr: opts.Stderr,
	})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, fmt.Errorf("failed to load symbols: %w", err)
	}
	if _, err := i.Eval(fmt.Sprintf(`import %q`, moduleName)); err != nil {
		return nil, fmt.Errorf("failed to import plugin code %q: %w", moduleName, err)
	}
	return i, nil
}

// BasePkg is the package name Traefik evaluates New and CreateConfig in when the manifest
// gives no basePkg.
func BasePkg(moduleName string) string {
	return strings.ReplaceAll(path.Base(moduleName), "-", "_")
}

// Load interprets moduleName from goPath (see harness.StagePlugin) as Traefik's newInterpreter and
// newYaegiMiddlewareBuilder do.
func Load(goPath, moduleName string, opts Options) (*Plugin, error) {
	i, err := Import(goPath, moduleName, opts)
	if err != nil {
		return nil, err
	}
	basePkg := BasePkg(moduleName)
	fnNew, err := i.Eval(basePkg + `.New`)
	if err != nil {
		return nil, fmt.Errorf("failed to eval New: %w", err)
	}
	fnCreateConfig, err := i.Eval(basePkg + `.CreateConfig`)
	if err != nil {
		return nil, fmt.Errorf("failed to eval CreateConfig: %w", err)
	}
	return &Plugin{Interp: i, fnNew: fnNew, fnCreateConfig: fnCreateConfig}, nil
}

// StageAndLoad stages srcDir into a fresh GOPATH under tmpDir and loads it.
func StageAndLoad(srcDir, tmpDir, moduleName string, opts Options) (*Plugin, error) {
	goPath := filepath.Join(tmpDir, "gopath")
	if err := harness.StagePlugin(srcDir, goPath, moduleName); err != nil {
		return nil, err
	}
	return Load(goPath, moduleName, opts)
}

// CreateConfig calls the plugin's CreateConfig and decodes config into it (Traefik's createConfig).
func (p *Plugin) CreateConfig(config map[string]any) (reflect.Value, error) {
	results := p.fnCreateConfig.Call(nil)
	if len(results) != 1 {
		return reflect.Value{}, fmt.Errorf("invalid number of return for the CreateConfig function: %d", len(results))
	}
	vConfig := results[0]
	if len(config) == 0 {
		return vConfig, nil
	}
	decoder, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           vConfig.Interface(),
	})
	if err != nil {
		return reflect.Value{}, fmt.Errorf("failed to create configuration decoder: %w", err)
	}
	if err := decoder.Decode(config); err != nil {
		return reflect.Value{}, fmt.Errorf("failed to decode configuration: %w", err)
	}
	return vConfig, nil
}

// New builds the middleware handler (Traefik's createConfig then newHandler).
func (p *Plugin) New(ctx context.Context, next http.Handler, config map[string]any, name string) (http.Handler, error) {
	cfg, err := p.CreateConfig(config)
	if err != nil {
		return nil, err
	}
	args := []reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(next), cfg, reflect.ValueOf(name)}
	results := p.fnNew.Call(args)
	if len(results) > 1 && results[1].Interface() != nil {
		err, ok := results[1].Interface().(error)
		if !ok {
			return nil, fmt.Errorf("invalid error type: %T", results[0].Interface())
		}
		return nil, err
	}
	handler, ok := results[0].Interface().(http.Handler)
	if !ok {
		return nil, errors.New("invalid handler type")
	}
	return handler, nil
}
