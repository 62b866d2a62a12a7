// Package hydra runs Ory Hydra (built by scripts/build-hydra.sh) on 127.0.0.1 as the e2e
// suite's real OpenID provider: in-memory storage, JWT access tokens, client credentials.
package hydra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// Hydra is a running Hydra.
type Hydra struct {
	Issuer    string // http://127.0.0.1:<public>/, as Hydra spells it in iss (trailing slash)
	PublicURL string
	AdminURL  string
	cmd       *exec.Cmd
	done      chan struct{}
	log       string
}

// Binary builds Hydra once (cached) and returns its path.
func Binary(ctx context.Context) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	return harness.RunBuildScript(ctx, root, "build-hydra.sh", os.Stderr)
}

// Start runs Hydra in dir and waits until it is ready and has made its signing keys.
func Start(ctx context.Context, binary, dir string) (*Hydra, error) {
	public, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	admin, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	h := &Hydra{
		PublicURL: fmt.Sprintf("http://127.0.0.1:%d", public),
		AdminURL:  fmt.Sprintf("http://127.0.0.1:%d", admin),
		done:      make(chan struct{}),
		log:       filepath.Join(dir, "hydra.log"),
	}
	h.Issuer = h.PublicURL + "/"
	config := fmt.Sprintf(`dsn: memory
serve:
  public: { host: 127.0.0.1, port: %d }
  admin: { host: 127.0.0.1, port: %d }
urls:
  self: { issuer: %q }
  login: %q
  consent: %q
strategies: { access_token: jwt }
secrets: { system: [ "withauth-e2e-secret-of-at-least-32-bytes" ] }
`, public, admin, h.Issuer, h.PublicURL+"/login", h.PublicURL+"/consent")
	configPath := filepath.Join(dir, "hydra.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(h.log)
	if err != nil {
		return nil, err
	}
	h.cmd = exec.Command(binary, "serve", "all", "--dev", "--sqa-opt-out", "-c", configPath)
	h.cmd.Dir = dir
	h.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	h.cmd.Stdout = logFile
	h.cmd.Stderr = logFile
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		_ = h.cmd.Wait()
		logFile.Close()
		close(h.done)
	}()
	// Ready, then the first key set: Hydra makes its keys on the first request for them.
	for _, probe := range []string{h.AdminURL + "/health/ready", h.PublicURL + "/.well-known/jwks.json"} {
		if err := h.waitOK(ctx, probe, 60*time.Second); err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

func (h *Hydra) waitOK(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-h.done:
			return fmt.Errorf("hydra exited:\n%s", h.LogTail())
		default:
		}
		if status, _, err := do(ctx, http.MethodGet, url, "", nil); err == nil && status == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("hydra: %s not ready after %s:\n%s", url, timeout, h.LogTail())
}

// LogTail is the end of Hydra's output.
func (h *Hydra) LogTail() string {
	data, _ := os.ReadFile(h.log)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// Stop ends Hydra.
func (h *Hydra) Stop() {
	if h.cmd.Process != nil {
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
			<-h.done
		}
	}
}

// CreateClient registers a client-credentials client allowed scopes and audience; its access
// tokens are JWTs.
func (h *Hydra) CreateClient(ctx context.Context, id, secret, scopes, audience string) error {
	return h.createClient(ctx, id, secret, scopes, audience, "jwt")
}

// CreateOpaqueClient registers a client like CreateClient whose access tokens are opaque
// (Hydra's default strategy): only introspection can judge them.
func (h *Hydra) CreateOpaqueClient(ctx context.Context, id, secret, scopes, audience string) error {
	return h.createClient(ctx, id, secret, scopes, audience, "opaque")
}

func (h *Hydra) createClient(ctx context.Context, id, secret, scopes, audience, strategy string) error {
	body, _ := json.Marshal(map[string]any{
		"client_id": id, "client_secret": secret, "grant_types": []string{"client_credentials"},
		"response_types": []string{"token"}, "scope": scopes, "audience": []string{audience},
		"token_endpoint_auth_method": "client_secret_post", "access_token_strategy": strategy,
	})
	status, answer, err := do(ctx, http.MethodPost, h.AdminURL+"/admin/clients", "application/json", body)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("create client: status %d, %v: %s", status, err, answer)
	}
	return nil
}

// Token obtains a client-credentials access token for scopes and audience.
func (h *Hydra) Token(ctx context.Context, id, secret, scopes, audience string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {scopes}, "audience": {audience}}
	status, answer, err := do(ctx, http.MethodPost, h.PublicURL+"/oauth2/token", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("token: status %d, %v: %s", status, err, answer)
	}
	var token struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(answer, &token); err != nil || token.AccessToken == "" {
		return "", fmt.Errorf("token: no access_token in %s", answer)
	}
	return token.AccessToken, nil
}

// IntrospectionURL is Hydra's RFC 7662 endpoint, on its admin API.
func (h *Hydra) IntrospectionURL() string { return h.AdminURL + "/admin/oauth2/introspect" }

// Revoke revokes a token of the client (RFC 7009), as the client itself would.
func (h *Hydra) Revoke(ctx context.Context, id, secret, token string) error {
	form := url.Values{"token": {token}, "client_id": {id}, "client_secret": {secret}}
	status, answer, err := do(ctx, http.MethodPost, h.PublicURL+"/oauth2/revoke", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("revoke: status %d, %v: %s", status, err, answer)
	}
	return nil
}

// RotateKey adds a new signing key for access tokens; Hydra signs with it at once.
func (h *Hydra) RotateKey(ctx context.Context, kid string) error {
	body, _ := json.Marshal(map[string]string{"alg": "RS256", "use": "sig", "kid": kid})
	status, answer, err := do(ctx, http.MethodPost, h.AdminURL+"/admin/keys/hydra.jwt.access-token", "application/json", body)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("rotate key: status %d, %v: %s", status, err, answer)
	}
	return nil
}

func do(ctx context.Context, method, url, contentType string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}
