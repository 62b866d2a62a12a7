package withauth

// The one bounded HTTP exchange every key endpoint and Frontegg's API go through.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxResponseBytes bounds what is read from a key endpoint or Frontegg's API; real key sets and
// answers are a few KiB.
const maxResponseBytes = 1 << 20

// newHTTPClient is the client of every key endpoint and of Frontegg's API. It follows no
// redirect: none of them needs one, and following would hand the request (Frontegg's
// x-access-token with it) to whatever host a compromised or misconfigured endpoint names.
// transport is nil for Go's default one.
func newHTTPClient(timeout time.Duration, transport http.RoundTripper) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect, Transport: transport}
}

func refuseRedirect(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("redirected to %s, which withauth does not follow; configure the final URL", req.URL.Redacted())
}

// fetchBounded sends one request for JSON and reads at most maxResponseBytes of the answer. A
// status other than 200 is an error, returned with the status and the body read.
func fetchBounded(ctx context.Context, client *http.Client, method, url string, body []byte, header http.Header) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(data) > maxResponseBytes {
		return nil, resp.StatusCode, fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return data, resp.StatusCode, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return data, resp.StatusCode, nil
}
