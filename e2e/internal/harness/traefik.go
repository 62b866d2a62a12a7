package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start. Zero values are sensible defaults.
type Options struct {
	Binary  string            // Traefik binary; default: TraefikBinary
	Root    string            // plugin repository; default: RepoRoot
	Dynamic map[string]string // file-provider files (name.yml, name.toml) and their content
	// Env is the Traefik process's environment on top of PATH and HOME: nothing else from the
	// caller's environment reaches it (the plugin reads the process environment under Yaegi).
	Env []string
	// StaticInEnv passes the static configuration as TRAEFIK_* environment variables instead of
	// command-line flags.
	StaticInEnv bool
	Args        []string  // more static configuration, as flags "--name=value"
	Log         io.Writer // also receives Traefik's log output (it always goes to Traefik.LogFile)
	LogLevel    string    // default DEBUG
	WebPort     int       // the web entry point's port on 127.0.0.1; 0: a free one
	// Plugins are local plugins beside withauth, such as the benchmarks' no-op plugin.
	Plugins []LocalPlugin
}

// LocalPlugin is a plugin Traefik loads from source: its key under experimental.localPlugins,
// its module path and its source directory.
type LocalPlugin struct {
	Alias, Module, Dir string
}

// Traefik is a running Traefik process.
type Traefik struct {
	URL     string // the "web" entry point, http://127.0.0.1:port
	APIURL  string // the "traefik" entry point: API and /ping
	Dir     string // working directory: plugins-local/, dynamic/, traefik.log
	LogFile string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	logFile  *os.File
}

// Pid is Traefik's process id.
func (t *Traefik) Pid() int { return t.cmd.Process.Pid }

// DynamicDir is the file provider's directory inside Dir.
func (t *Traefik) DynamicDir() string { return filepath.Join(t.Dir, "dynamic") }

// Start lays out the plugin, writes the configuration and starts Traefik; it returns once Traefik
// answers /ping. Call Stop in every case when err is nil.
func Start(ctx context.Context, opts Options) (*Traefik, error) {
	var err error
	if opts.Root == "" {
		if opts.Root, err = RepoRoot(); err != nil {
			return nil, err
		}
	}
	if opts.Binary == "" {
		if opts.Binary, err = TraefikBinary(ctx, opts.Root, os.Stderr); err != nil {
			return nil, err
		}
	}
	// A port FreePort found free can be taken by a parallel test before Traefik binds it: then
	// Traefik exits with "address already in use", and a start with other ports is tried.
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp("", "withauth-traefik-")
		if err != nil {
			return nil, err
		}
		t := &Traefik{Dir: dir, LogFile: filepath.Join(dir, "traefik.log"), done: make(chan struct{})}
		err = t.start(ctx, opts)
		if err == nil {
			return t, nil
		}
		log, _ := os.ReadFile(t.LogFile)
		t.Stop()
		if attempt == 5 || opts.WebPort != 0 || !strings.Contains(string(log), "address already in use") {
			return nil, err
		}
	}
}

func (t *Traefik) start(ctx context.Context, opts Options) (err error) {
	plugins := append([]LocalPlugin{{Alias: PluginName, Module: Module, Dir: opts.Root}}, opts.Plugins...)
	var pluginFlags []string
	for _, p := range plugins {
		if err := StagePlugin(p.Dir, filepath.Join(t.Dir, "plugins-local"), p.Module); err != nil {
			return err
		}
		pluginFlags = append(pluginFlags, "--experimental.localPlugins."+p.Alias+".moduleName="+p.Module)
	}
	if err := os.MkdirAll(t.DynamicDir(), 0o755); err != nil {
		return err
	}
	for name, content := range opts.Dynamic {
		if err := t.WriteDynamic(name, content); err != nil {
			return err
		}
	}
	web := opts.WebPort
	if web == 0 {
		if web, err = FreePort(); err != nil {
			return err
		}
	}
	api, err := FreePort()
	if err != nil {
		return err
	}
	t.URL = fmt.Sprintf("http://127.0.0.1:%d", web)
	t.APIURL = fmt.Sprintf("http://127.0.0.1:%d", api)
	level := opts.LogLevel
	if level == "" {
		level = "DEBUG"
	}
	static := append([]string{
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", web),
		fmt.Sprintf("--entryPoints.traefik.address=127.0.0.1:%d", api),
		"--api.insecure=true",
		// The module-proxy build has no web UI assets: without this Traefik logs an ERR.
		"--api.dashboard=false",
		"--ping=true",
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=" + level,
		"--providers.file.directory=" + t.DynamicDir(),
		"--providers.file.watch=true",
	}, append(pluginFlags, opts.Args...)...)

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.Dir}
	var args []string
	if opts.StaticInEnv {
		for _, flag := range static {
			env = append(env, FlagToEnv(flag))
		}
	} else {
		args = static
	}
	env = append(env, opts.Env...)

	if t.logFile, err = os.Create(t.LogFile); err != nil {
		return err
	}
	var out io.Writer = t.logFile
	if opts.Log != nil {
		out = io.MultiWriter(t.logFile, opts.Log)
	}
	t.cmd = exec.Command(opts.Binary, args...)
	t.cmd.Dir = t.Dir // Traefik reads local plugins from ./plugins-local
	t.cmd.Env = env
	t.cmd.Stdout = out
	t.cmd.Stderr = out
	// Own process group, so Stop reaches anything Traefik starts; killed if we die first.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		close(t.done)
		return fmt.Errorf("start %s: %w", opts.Binary, err)
	}
	go func() {
		t.waitErr = t.cmd.Wait()
		close(t.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return t.poll(ctx, "Traefik answering "+t.APIURL+"/ping", func() (bool, error) {
		status, _, err := get(ctx, t.APIURL+"/ping")
		return err == nil && status == http.StatusOK, nil
	})
}

// FlagToEnv turns "--a.b.c=v" into "TRAEFIK_A_B_C=v", Traefik's environment form.
func FlagToEnv(flag string) string {
	name, value, _ := strings.Cut(strings.TrimLeft(flag, "-"), "=")
	return "TRAEFIK_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_")) + "=" + value
}

// WriteDynamic writes (atomically) one file of the file provider's directory.
func (t *Traefik) WriteDynamic(name, content string) error {
	tmp := filepath.Join(t.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(t.DynamicDir(), name))
}

// Exited tells whether the process has ended.
func (t *Traefik) Exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// poll calls check every 100ms until it reports done, fails, Traefik exits or ctx ends.
func (t *Traefik) poll(ctx context.Context, what string, check func() (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w\n%s", what, err, t.LogTail(40))
		}
		if ok {
			return nil
		}
		select {
		case <-t.done:
			return fmt.Errorf("waiting for %s: Traefik exited (%v)\n%s", what, t.waitErr, t.LogTail(40))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w\n%s", what, ctx.Err(), t.LogTail(40))
		case <-tick.C:
		}
	}
}

// apiStatus is the part of a router or middleware in Traefik's API that tells its health.
type apiStatus struct {
	Status      string   `json:"status"`
	Error       []string `json:"error"`
	Middlewares []string `json:"middlewares"`
	Provider    string   `json:"provider"`
}

// WaitRouters waits until Traefik's API shows each router ("name@provider") and the middlewares
// it uses enabled. A router or middleware that Traefik disabled is an error at once.
func (t *Traefik) WaitRouters(ctx context.Context, timeout time.Duration, routers ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range routers {
		var router apiStatus
		err := t.poll(ctx, "router "+name, func() (bool, error) {
			found, err := t.apiGet(ctx, "/api/http/routers/"+url.PathEscape(name), &router)
			if err != nil || !found {
				return false, nil
			}
			return router.Status == "enabled", statusError("router", name, router)
		})
		if err != nil {
			return err
		}
		for _, mw := range router.Middlewares {
			if !strings.Contains(mw, "@") {
				mw += "@" + router.Provider
			}
			var m apiStatus
			if _, err := t.apiGet(ctx, "/api/http/middlewares/"+url.PathEscape(mw), &m); err != nil {
				return err
			}
			if m.Status != "enabled" {
				return fmt.Errorf("middleware %s of router %s: status %q, errors %q\n%s", mw, name, m.Status, m.Error, t.LogTail(40))
			}
		}
	}
	return nil
}

// WaitRefused waits until Traefik's API shows the router ("name@provider") disabled, and
// returns its errors: what Traefik reports of a middleware whose New failed.
func (t *Traefik) WaitRefused(ctx context.Context, timeout time.Duration, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var router apiStatus
	err := t.poll(ctx, "router "+name+" disabled", func() (bool, error) {
		found, err := t.apiGet(ctx, "/api/http/routers/"+url.PathEscape(name), &router)
		if err != nil || !found {
			return false, nil
		}
		if router.Status == "enabled" {
			return false, fmt.Errorf("router %s is enabled; want it refused", name)
		}
		return len(router.Error) > 0, nil
	})
	return router.Error, err
}

// WaitCases polls until every case's request (Raw tokens only) answers the case's status.
func (t *Traefik) WaitCases(ctx context.Context, timeout time.Duration, cases []Case) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	err := t.poll(ctx, "the routes' answers", func() (bool, error) {
		for _, c := range cases {
			r, err := Do(ctx, t.URL, c, nil)
			if err != nil || r.Status != c.Status {
				last = fmt.Sprintf("%s: %v (status %d, want %d)", c.Path, err, r.Status, c.Status)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return nil
}

func statusError(kind, name string, s apiStatus) error {
	if s.Status == "disabled" || len(s.Error) > 0 {
		return fmt.Errorf("%s %s is %s: %s", kind, name, s.Status, strings.Join(s.Error, "; "))
	}
	return nil
}

// WaitHTTP polls GET path on the web entry point until ok accepts the status code.
func (t *Traefik) WaitHTTP(ctx context.Context, timeout time.Duration, path string, ok func(status int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := 0
	err := t.poll(ctx, "GET "+path, func() (bool, error) {
		status, _, err := get(ctx, t.URL+path)
		if err != nil {
			return false, nil
		}
		last = status
		return ok(status), nil
	})
	if err != nil {
		return fmt.Errorf("%w (last status %d)", err, last)
	}
	return nil
}

func (t *Traefik) apiGet(ctx context.Context, path string, v any) (bool, error) {
	status, body, err := get(ctx, t.APIURL+path)
	if err != nil || status == http.StatusNotFound {
		return false, err
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("GET %s: status %d: %s", path, status, body)
	}
	return true, json.Unmarshal(body, v)
}

func get(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// LogTail returns the last n lines of Traefik's log.
func (t *Traefik) LogTail(n int) string {
	data, err := os.ReadFile(t.LogFile)
	if err != nil {
		return "(no Traefik log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- Traefik log (last lines) ---\n" + strings.Join(lines, "\n")
}

// Stop ends Traefik (SIGTERM, then SIGKILL after 10s) and removes its directory. Safe to call
// more than once; set WITHAUTH_KEEP=1 to keep the directory for inspection.
func (t *Traefik) Stop() {
	t.stopOnce.Do(func() {
		if t.cmd != nil && t.cmd.Process != nil {
			pgid := t.cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-t.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-t.done
			}
		}
		if t.logFile != nil {
			_ = t.logFile.Close()
		}
		if os.Getenv("WITHAUTH_KEEP") == "" {
			_ = os.RemoveAll(t.Dir)
		}
	})
}

// ErrExited is returned by Wait when Traefik ended by itself.
var ErrExited = errors.New("traefik exited")

// Wait blocks until Traefik exits or ctx ends.
func (t *Traefik) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return fmt.Errorf("%w: %v", ErrExited, t.waitErr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitProviderRouters waits until Traefik's API lists routers of provider ("file", "docker"),
// then for each of them as WaitRouters does, and returns their names.
func (t *Traefik) WaitProviderRouters(ctx context.Context, timeout time.Duration, provider string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var names []string
	err := t.poll(ctx, "routers of provider "+provider, func() (bool, error) {
		var routers []struct {
			Name     string `json:"name"`
			Provider string `json:"provider"`
		}
		if _, err := t.apiGet(ctx, "/api/http/routers?per_page=1000", &routers); err != nil {
			return false, nil
		}
		names = names[:0]
		for _, r := range routers {
			if r.Provider == provider {
				names = append(names, r.Name)
			}
		}
		return len(names) > 0, nil
	})
	if err != nil {
		return nil, err
	}
	return names, t.WaitRouters(ctx, timeout, names...)
}
