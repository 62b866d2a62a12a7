package withauth

// replayStore "redis://…": the used DPoP proofs of every replica in one Redis, so that a proof is
// accepted once across all of them. A standard-library RESP client (the plugin takes no
// dependency): pooled connections, timeouts, AUTH, TLS, one command (SET key 1 NX PX ttl).

import (
	"bufio"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// redisTimeout bounds one exchange with Redis, connection included: a proof waits no longer.
	redisTimeout = 2 * time.Second
	// redisRetryAfter is how long a store that failed is not asked again: DPoP requests are
	// answered 503 at once meanwhile, instead of each waiting for a timeout.
	redisRetryAfter = time.Second
	// maxRedisConnections bounds the connections to one store; maxIdleRedisConnections those kept
	// open between requests.
	maxRedisConnections     = 64
	maxIdleRedisConnections = 16
	// redisKeyPrefix names withauth's keys in a Redis shared with other programs.
	redisKeyPrefix = "withauth:dpop:"
)

// redisStore records used proofs in one Redis database, for every route of the process that
// names it.
type redisStore struct {
	id       string // its processKey
	address  string // host:port
	username string
	password string
	database int
	tls      *tls.Config // nil: plain TCP
	// shown is the store's URL as logs may show it: never the password.
	shown string
	now   func() time.Time
	log   *processLog
	users users         // the middlewares that use the store, for its log lines
	slots chan struct{} // one per connection open or being opened

	mu          sync.Mutex
	idle        []*redisConn
	failedUntil int64 // Unix nanoseconds: until then the store is not asked
	down        bool  // an outage was logged and has not ended
}

// redisConn is one connection and its reader.
type redisConn struct {
	conn   net.Conn
	reader *bufio.Reader
}

// withRedisPassword is a replayStore URL with replayStorePasswordFile's password: the URL's one
// name, if any, is then the user's. It fails when the URL holds a password already (after a
// colon) or names no Redis.
func withRedisPassword(setting, password string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(setting))
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return "", errors.New("replayStorePasswordFile: applies with replayStore redis://[user@]host:port; set replayStore or remove it")
	}
	username := ""
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return "", errors.New("replayStore's password and replayStorePasswordFile: the secret is given both ways; keep replayStorePasswordFile and remove the password from replayStore")
		}
		username = u.User.Username()
	}
	u.User = url.UserPassword(username, password)
	return u.String(), nil
}

// newReplayStoreSetting checks replayStore: nil for "process" (or unset), the process's client
// of the Redis it names otherwise, trusting caBundle beside the system's roots for rediss.
func newReplayStoreSetting(setting string, timing fetchTiming) (*redisStore, error) {
	setting = strings.TrimSpace(setting)
	if setting == "" || setting == "process" {
		return nil, nil
	}
	u, err := url.Parse(setting)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("replayStore: %q is not a setting; use process (this Traefik alone) or redis://[user:password@]host:port[/db] (rediss:// for TLS), shared by every replica", redactURL(setting))
	}
	store := &redisStore{address: u.Host, shown: redactURL(setting), now: timing.now, log: timing.log, slots: make(chan struct{}, maxRedisConnections)}
	if u.Port() == "" {
		store.address = net.JoinHostPort(u.Hostname(), "6379")
	}
	if u.User != nil {
		password, hasPassword := u.User.Password()
		if hasPassword {
			store.username = u.User.Username()
			store.password = password
		} else {
			// redis://secret@host: the one name given is the password, as Redis's own clients read it.
			store.password = u.User.Username()
		}
	}
	if path := strings.Trim(u.Path, "/"); path != "" {
		if store.database, err = strconv.Atoi(path); err != nil || store.database < 0 {
			return nil, fmt.Errorf("replayStore: the database %q of %s is not a number; give it as /0 to /15, or leave it out for 0", path, store.shown)
		}
	}
	if u.Scheme == "rediss" {
		store.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if timing.tls.config != nil {
			store.tls.RootCAs = timing.tls.config.RootCAs
			store.tls.Certificates = timing.tls.config.Certificates
		}
	}
	store.id = processKey("redis", setting, timing.tls.id)
	return store, nil
}

// setOnce records key for ttlNanos: true the first time, false when some replica recorded it
// already; an error when the store cannot be reached or answers something else.
func (s *redisStore) setOnce(digest string, ttlNanos int64) (bool, error) {
	nowUnixNano := s.now().UnixNano()
	s.mu.Lock()
	failing := nowUnixNano < s.failedUntil
	s.mu.Unlock()
	if failing {
		return false, errReplayStoreDown
	}
	ttl := ttlNanos / int64(time.Millisecond)
	if ttl < 1 {
		ttl = 1
	}
	reply, err := s.exchange("SET", redisKeyPrefix+hex.EncodeToString([]byte(digest)), "1", "NX", "PX", strconv.FormatInt(ttl, 10))
	s.noteOutcome(err)
	if err != nil {
		return false, err
	}
	return reply == "OK", nil
}

// noteOutcome logs the start and the end of an outage, one line each, and keeps a failing store
// from being asked again for redisRetryAfter.
func (s *redisStore) noteOutcome(err error) {
	s.mu.Lock()
	started, ended := err != nil && !s.down, err == nil && s.down
	s.down = err != nil
	if err != nil {
		s.failedUntil = s.now().Add(redisRetryAfter).UnixNano()
	}
	s.mu.Unlock()
	if started {
		s.log.errorf("%s: replayStore %s cannot be reached (DPoP requests are answered 503 until it is back): %v", s.users.String(), s.shown, err)
	}
	if ended {
		s.log.errorf("%s: replayStore %s is back; DPoP requests are judged again", s.users.String(), s.shown)
	}
}

// exchange sends one command on a pooled connection and reads its reply: a simple string, or ""
// for a null bulk string (SET … NX on a key that exists). A connection kept idle that fails (the
// store restarted meanwhile) is replaced by a new one once.
func (s *redisStore) exchange(args ...string) (string, error) {
	c, reused, err := s.connection()
	if err != nil {
		return "", err
	}
	reply, err := command(c, args...)
	if err != nil && reused {
		s.discard(c)
		if c, err = s.open(); err != nil {
			return "", err
		}
		reply, err = command(c, args...)
	}
	if err != nil {
		s.discard(c)
		return "", err
	}
	s.mu.Lock()
	keep := len(s.idle) < maxIdleRedisConnections
	if keep {
		s.idle = append(s.idle, c)
	}
	s.mu.Unlock()
	if !keep {
		s.discard(c)
	}
	return reply, nil
}

// connection is an idle connection (reused), or a new one.
func (s *redisStore) connection() (c *redisConn, reused bool, err error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c = s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, true, nil
	}
	s.mu.Unlock()
	c, err = s.open()
	return c, false, err
}

// open takes a slot and dials a connection: at most maxRedisConnections are open, and past them
// a caller waits for a slot as long as an exchange may take.
func (s *redisStore) open() (*redisConn, error) {
	timer := time.NewTimer(redisTimeout)
	defer timer.Stop()
	select {
	case s.slots <- struct{}{}:
	case <-timer.C:
		return nil, errors.New("every connection to the store is busy")
	}
	c, err := s.dial()
	if err != nil {
		<-s.slots
		return nil, err
	}
	return c, nil
}

// discard closes a connection and gives its slot back.
func (s *redisStore) discard(c *redisConn) {
	_ = c.conn.Close()
	<-s.slots
}

func (s *redisStore) dial() (*redisConn, error) {
	dialer := &net.Dialer{Timeout: redisTimeout}
	var conn net.Conn
	var err error
	if s.tls != nil {
		conn, err = tls.DialWithDialer(dialer, "tcp", s.address, s.tls)
	} else {
		conn, err = dialer.Dial("tcp", s.address)
	}
	if err != nil {
		return nil, err
	}
	c := &redisConn{conn: conn, reader: bufio.NewReader(conn)}
	if s.password != "" {
		args := []string{"AUTH", s.password}
		if s.username != "" {
			args = []string{"AUTH", s.username, s.password}
		}
		if _, err := command(c, args...); err != nil {
			_ = conn.Close()
			// Redis's answer names neither the user nor the password.
			return nil, fmt.Errorf("AUTH: %v", err)
		}
	}
	if s.database != 0 {
		if _, err := command(c, "SELECT", strconv.Itoa(s.database)); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("SELECT %d: %v", s.database, err)
		}
	}
	return c, nil
}

// command writes one RESP command and reads its reply, within redisTimeout. The deadline is the
// socket's, in real time: the injected clock decides, it does not time I/O.
func command(c *redisConn, args ...string) (string, error) {
	if err := c.conn.SetDeadline(time.Now().Add(redisTimeout)); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, arg := range args {
		b.WriteString("$" + strconv.Itoa(len(arg)) + "\r\n" + arg + "\r\n")
	}
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(c.reader)
}

// maxRedisReplyBytes bounds a reply line: withauth's commands are answered in a few bytes.
const maxRedisReplyBytes = 4096

// readReply reads one RESP reply: +simple string, -error, :integer, or the null bulk string $-1.
// Anything else (a bulk string, an array, a line without its end) is an error: withauth sends no
// command that is answered so.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	if len(line) > maxRedisReplyBytes || len(line) < 3 || line[len(line)-2] != '\r' {
		return "", errors.New("a malformed reply")
	}
	text := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', ':':
		return text, nil
	case '-':
		return "", errors.New("the store answered " + text)
	case '$':
		if text == "-1" {
			return "", nil
		}
	}
	return "", errors.New("an unexpected reply")
}
