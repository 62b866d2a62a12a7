package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Docker runs the docker CLI with a timeout and returns its combined output.
func Docker(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	return run(ctx, timeout, nil, "", "docker", args...)
}

func run(ctx context.Context, timeout time.Duration, env []string, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BuildGo builds a static (CGO_ENABLED=0) linux binary of package pkg of the module in dir.
func BuildGo(ctx context.Context, dir, pkg, out string) error {
	_, err := run(ctx, 5*time.Minute, []string{"CGO_ENABLED=0", "GOOS=linux"}, dir,
		"go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	return err
}

// Image is a docker build context: files (path in the image context -> file on disk) and a Dockerfile.
type Image struct {
	Repo       string            // image name, such as withauth-e2e-traefik
	Dockerfile string            // content
	Files      map[string]string // context path -> source file
}

// Build builds the image as Repo:<content hash> unless that tag exists already, removes the
// other tags of Repo (stale builds), and returns the reference.
func (im Image) Build(ctx context.Context) (string, error) {
	sum, err := im.hash()
	if err != nil {
		return "", err
	}
	ref := im.Repo + ":" + sum
	if _, err := Docker(ctx, time.Minute, "image", "inspect", ref); err == nil {
		return ref, nil
	}
	dir, err := os.MkdirTemp("", "withauth-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(im.Dockerfile), 0o644); err != nil {
		return "", err
	}
	for dst, src := range im.Files {
		if err := linkOrCopy(src, filepath.Join(dir, dst)); err != nil {
			return "", err
		}
	}
	if _, err := run(ctx, 10*time.Minute, []string{"DOCKER_BUILDKIT=0"}, dir, "docker", "build", "-q", "-t", ref, "."); err != nil {
		return "", err
	}
	tags, _ := Docker(ctx, time.Minute, "images", im.Repo, "--format", "{{.Repository}}:{{.Tag}}")
	for _, tag := range strings.Fields(tags) {
		if tag != ref {
			_, _ = Docker(ctx, time.Minute, "rmi", tag)
		}
	}
	return ref, nil
}

func (im Image) hash() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", im.Dockerfile)
	names := make([]string, 0, len(im.Files))
	for name := range im.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := os.Open(im.Files[name])
		if err != nil {
			return "", err
		}
		info, err := f.Stat()
		if err == nil {
			fmt.Fprintf(h, "%s\x00%o\x00%d\x00", name, info.Mode().Perm(), info.Size())
			_, err = io.Copy(h, f)
		}
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TraefikImage is a FROM scratch image of the Traefik binary with the plugin as a local plugin in
// its working directory (/), so --experimental.localPlugins.withauth.moduleName=<Module> loads it.
func TraefikImage(root, binary string) (Image, error) {
	names, err := PluginFiles(root)
	if err != nil {
		return Image{}, err
	}
	files := map[string]string{"traefik": binary}
	for _, name := range names {
		files["plugins-local/src/"+Module+"/"+name] = filepath.Join(root, name)
	}
	return Image{Repo: "withauth-e2e-traefik", Files: files, Dockerfile: "FROM scratch\n" +
		"COPY traefik /traefik\nCOPY plugins-local /plugins-local\nWORKDIR /\nENTRYPOINT [\"/traefik\"]\n"}, nil
}

// ProgramImage is a FROM scratch image of one static binary.
func ProgramImage(repo, binary string) Image {
	return Image{Repo: repo, Files: map[string]string{"app": binary},
		Dockerfile: "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"}
}

// Compose runs docker-compose for one project.
type Compose struct {
	Project string
	Files   []string
	Env     []string // e.g. the published ports' variables
}

// Run runs `docker-compose -p <project> -f ... args...`.
func (c Compose) Run(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	full := []string{"-p", c.Project}
	for _, f := range c.Files {
		full = append(full, "-f", f)
	}
	return run(ctx, timeout, c.Env, "", "docker-compose", append(full, args...)...)
}
