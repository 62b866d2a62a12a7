// Package redis runs a real redis-server (Debian's package, installed by
// scripts/install-redis.sh) on 127.0.0.1 for a test: the replay store two Traefik replicas share.
package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Server is one redis-server process, stopped and started again on the same port.
type Server struct {
	Port     int
	Password string
	binary   string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
}

// Binary is redis-server's path, or an error saying how to install it.
func Binary() (string, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not installed (make redis installs Debian's package): %v", err)
	}
	return path, nil
}

// Start runs redis-server on port, bound to 127.0.0.1, with password, persisting nothing.
func Start(ctx context.Context, port int, password string) (*Server, error) {
	binary, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "withauth-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{Port: port, Password: password, binary: binary, dir: dir}
	return s, s.Restart(ctx)
}

// URL is the replayStore setting naming the server.
func (s *Server) URL() string {
	return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", s.Password, s.Port)
}

// Restart starts the server again (after Stop) on its port, and waits until it accepts
// connections.
func (s *Server) Restart(ctx context.Context) error {
	cmd := exec.Command(s.binary, "--port", fmt.Sprint(s.Port), "--bind", "127.0.0.1", "--requirepass", s.Password,
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server does not accept connections on port %d", s.Port)
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Stop()
	_ = os.RemoveAll(s.dir)
}
