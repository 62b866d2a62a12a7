package withauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// newHTTPClient is the client of every key endpoint and of Frontegg's API. It follows no
// redirect: none of them needs one, and following would hand the request (Frontegg's
// x-access-token with it) to whatever host a compromised or misconfigured endpoint names.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect}
}

func refuseRedirect(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("redirected to %s, which withauth does not follow; configure the final URL", req.URL.Redacted())
}

// getBounded GETs url and returns a 200 response's body, read up to maxKeyResponseBytes.
func getBounded(ctx context.Context, client *http.Client, url string, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readBounded(resp)
}

// readBounded reads a response's body up to maxKeyResponseBytes; a status other than 200 is an
// error, returned with the body read.
func readBounded(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxKeyResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxKeyResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return body, nil
}
