// Package statuswriter is an http.ResponseWriter that keeps only the status, so that a
// benchmark measures the middleware and not the response.
package statuswriter

import "net/http"

// Writer records the first status written; a Write without WriteHeader counts as 200.
type Writer struct {
	Code   int
	header http.Header
}

// New returns a Writer with an empty header.
func New() *Writer { return &Writer{header: http.Header{}} }

func (w *Writer) Header() http.Header { return w.header }

func (w *Writer) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return len(b), nil
}

func (w *Writer) WriteHeader(code int) {
	if w.Code == 0 {
		w.Code = code
	}
}
