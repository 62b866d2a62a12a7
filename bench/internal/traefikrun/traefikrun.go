// Package traefikrun starts a real Traefik on 127.0.0.1 with local (Yaegi) plugins and a file
// provider, and reads its CPU time and memory from /proc.
package traefikrun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seed0ec25cca/withauth/bench/internal/yaegiplugin"
)

// LocalPlugin is a plugin source directory and its module name.
type LocalPlugin struct {
	Alias, Module, Dir string
}

// Route is a router on PathPrefix(Prefix) through Middlewares to the origin.
type Route struct {
	Name, Prefix string
	Middlewares  []string
}

// Middleware is a plugin middleware: Plugin is a LocalPlugin alias.
type Middleware struct {
	Name, Plugin string
	Config       map[string]string
}

// Setup is what to run.
type Setup struct {
	Binary      string
	WorkDir     string
	Plugins     []LocalPlugin
	Middlewares []Middleware
	Routes      []Route
	OriginAddr  string
}

// Traefik is a running Traefik.
type Traefik struct {
	Addr string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// FreePort returns a loopback address that was free a moment ago.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// q quotes s as a YAML scalar (JSON strings are YAML double-quoted scalars).
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Start lays out WorkDir (plugins-local/src/<module>/, traefik.yml, dynamic.yml) and starts Traefik
// in it. It does not wait for readiness: see WaitReady.
func Start(s Setup) (*Traefik, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	var static bytes.Buffer
	fmt.Fprintf(&static, "global:\n  checkNewVersion: false\n  sendAnonymousUsage: false\n")
	fmt.Fprintf(&static, "entryPoints:\n  web:\n    address: %s\n", q(addr))
	fmt.Fprintf(&static, "providers:\n  file:\n    filename: %s\n", q(filepath.Join(s.WorkDir, "dynamic.yml")))
	fmt.Fprintf(&static, "log:\n  level: ERROR\n")
	fmt.Fprintf(&static, "experimental:\n  localPlugins:\n")
	for _, p := range s.Plugins {
		goPath := filepath.Join(s.WorkDir, "plugins-local")
		if err := yaegiplugin.Stage(p.Dir, goPath, p.Module); err != nil {
			return nil, err
		}
		manifest := filepath.Join(goPath, "src", filepath.FromSlash(p.Module), ".traefik.yml")
		if _, err := os.Stat(manifest); err != nil {
			// The plugin has no manifest yet: give Traefik the minimum it checks.
			m := fmt.Sprintf("displayName: %s\ntype: middleware\nimport: %s\nsummary: benchmark copy\ntestData: {}\n", p.Alias, p.Module)
			if err := os.WriteFile(manifest, []byte(m), 0o644); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&static, "    %s:\n      moduleName: %s\n", p.Alias, q(p.Module))
	}
	var dyn bytes.Buffer
	fmt.Fprintf(&dyn, "http:\n  routers:\n")
	for _, r := range s.Routes {
		fmt.Fprintf(&dyn, "    %s:\n      entryPoints: [web]\n      rule: %s\n      service: origin\n", r.Name, q("PathPrefix(`"+r.Prefix+"`)"))
		if len(r.Middlewares) > 0 {
			fmt.Fprintf(&dyn, "      middlewares: [%s]\n", strings.Join(r.Middlewares, ", "))
		}
	}
	if len(s.Middlewares) > 0 {
		fmt.Fprintf(&dyn, "  middlewares:\n")
		for _, m := range s.Middlewares {
			fmt.Fprintf(&dyn, "    %s:\n      plugin:\n        %s:", m.Name, m.Plugin)
			if len(m.Config) == 0 {
				dyn.WriteString(" {}\n")
				continue
			}
			dyn.WriteString("\n")
			keys := make([]string, 0, len(m.Config))
			for k := range m.Config {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&dyn, "          %s: %s\n", k, q(m.Config[k]))
			}
		}
	}
	fmt.Fprintf(&dyn, "  services:\n    origin:\n      loadBalancer:\n        servers:\n          - url: %s\n", q("http://"+s.OriginAddr))
	if err := os.WriteFile(filepath.Join(s.WorkDir, "traefik.yml"), static.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, "dynamic.yml"), dyn.Bytes(), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.WorkDir, "traefik.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Binary, "--configFile="+filepath.Join(s.WorkDir, "traefik.yml"))
	cmd.Dir = s.WorkDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	t := &Traefik{Addr: addr, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(t.done)
	}()
	return t, nil
}

// Pid is Traefik's process id.
func (t *Traefik) Pid() int { return t.cmd.Process.Pid }

// Log returns the end of Traefik's output.
func (t *Traefik) Log() string {
	b, _ := os.ReadFile(t.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Probe is one readiness check: GET Path with Header answers Want.
type Probe struct {
	Path   string
	Header map[string]string
	Want   int
}

// WaitReady polls until every probe answers as expected, Traefik exits, or timeout passes.
func (t *Traefik) WaitReady(probes []Probe, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-t.done:
			return fmt.Errorf("traefik exited:\n%s", t.Log())
		default:
		}
		ok := true
		for _, p := range probes {
			req, _ := http.NewRequest(http.MethodGet, "http://"+t.Addr+p.Path, nil)
			for k, v := range p.Header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			resp.Body.Close()
			if resp.StatusCode != p.Want {
				ok, last = false, fmt.Sprintf("%s answered %d, want %d", p.Path, resp.StatusCode, p.Want)
				break
			}
		}
		if ok {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("traefik not ready after %s (%s):\n%s", timeout, last, t.Log())
}

// Stop ends Traefik: SIGTERM, then SIGKILL after 10 seconds.
func (t *Traefik) Stop() {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.done
	}
}

// clockTicks is USER_HZ, 100 on Linux for every architecture Go supports here.
const clockTicks = 100

// CPUTime is a process's user plus system CPU time from /proc/<pid>/stat (all its threads).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// RSS is a process's resident set size from /proc/<pid>/status, in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// MachineBusy is the CPU time all processes have used, from the first line of /proc/stat
// (user+nice+system+irq+softirq+steal).
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
