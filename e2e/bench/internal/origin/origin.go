// Package origin is the benchmark's upstream: a minimal HTTP/1.1 keep-alive server that answers
// every request with "200 ok". It skips net/http so that its CPU cost stays small next to the
// proxy under test (all processes share the machine's cores).
package origin

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"sync"
)

var answer = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nok")

// Server is a running origin.
type Server struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
}

// Start listens on addr (such as 127.0.0.1:0) and serves until Close.
func Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, conn: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port the origin listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the listener and all connections.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serve(c)
			s.mu.Lock()
			delete(s.conn, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 16<<10)
	for {
		var length int64
		first := true
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				if first {
					continue // tolerate stray CRLF between requests
				}
				break
			}
			first = false
			if colon := bytes.IndexByte(line, ':'); colon > 0 && bytes.EqualFold(line[:colon], []byte("Content-Length")) {
				length, _ = strconv.ParseInt(string(bytes.TrimSpace(line[colon+1:])), 10, 64)
			}
		}
		if length > 0 {
			if _, err := br.Discard(int(length)); err != nil {
				return
			}
		}
		if _, err := c.Write(answer); err != nil {
			return
		}
	}
}
