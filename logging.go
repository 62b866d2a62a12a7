package withauth

// Lines for Traefik's log. Under Yaegi the fmt package's Print* write to the interpreter's
// stdout, which Traefik logs at DEBUG, and the log package's Print* to its stderr, logged at
// ERROR; os.Stdout and os.Stderr are the process's own and bypass Traefik's log.

import (
	"fmt"
	"log"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// processLog writes lines to Traefik's log: debug at DEBUG, error at ERROR. The process's
// middlewares and the objects they share write through it; a test's process reads its lines.
type processLog struct {
	debug func(line string)
	error func(line string)
}

func newProcessLog() *processLog {
	return &processLog{debug: func(line string) { fmt.Println(line) }, error: func(line string) { log.Print(line) }}
}

// errorf writes an ERROR line.
func (l *processLog) errorf(format string, args ...interface{}) {
	l.error(fmt.Sprintf(format, args...))
}

// maxRejectionLinesPerSecond bounds the rejection lines of one middleware.
const maxRejectionLinesPerSecond = 10

// rejectionLog writes one line per refused request (logRejections) at its level, at most
// maxRejectionLinesPerSecond a second, then one line saying how many were left out.
type rejectionLog struct {
	log   *processLog
	name  string
	error bool             // level "error"; else "debug"
	now   func() time.Time // Config.Now

	mu           sync.Mutex
	windowSecond int64
	written      int
	leftOut      int
}

// newRejectionLog checks logRejections: "off" (or unset), "debug" or "error".
func newRejectionLog(level, name string, now func() time.Time, log *processLog) (*rejectionLog, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "", "off":
		return nil, nil
	case "debug":
		return &rejectionLog{log: log, name: name, now: now}, nil
	case "error":
		return &rejectionLog{log: log, name: name, error: true, now: now}, nil
	}
	return nil, fmt.Errorf("logRejections: %q is not a level; use off, debug or error", level)
}

// record logs a refusal: status, reason, the client, method and path (never the query, the
// token or a cookie), and what is known of a verified token.
func (l *rejectionLog) record(req *http.Request, status int, reason, verified string) {
	line := "withauth " + l.name + ": refused " + strconv.Itoa(status) + " reason=" + reason +
		" client=" + req.RemoteAddr + " method=" + req.Method + " path=" + strconv.Quote(req.URL.Path)
	if verified != "" {
		line += " " + verified
	}
	now := l.now().Unix()
	l.mu.Lock()
	var summary string
	if now != l.windowSecond {
		if l.leftOut > 0 {
			summary = "withauth " + l.name + ": " + strconv.Itoa(l.leftOut) + " more refusals in the last second were not logged (at most " + strconv.Itoa(maxRejectionLinesPerSecond) + " a second)"
		}
		l.windowSecond = now
		l.written = 0
		l.leftOut = 0
	}
	write := l.written < maxRejectionLinesPerSecond
	if write {
		l.written++
	} else {
		l.leftOut++
	}
	l.mu.Unlock()
	if summary != "" {
		l.write(summary)
	}
	if write {
		l.write(line)
	}
}

func (l *rejectionLog) write(line string) {
	if l.error {
		l.log.error(line)
	} else {
		l.log.debug(line)
	}
}

// users are the names of the middlewares that share something (a key set, a Frontegg client),
// for the lines it logs.
type users struct {
	mu    sync.Mutex
	names map[string]bool
}

func (u *users) add(name string) {
	u.mu.Lock()
	if u.names == nil {
		u.names = make(map[string]bool)
	}
	u.names[name] = true
	u.mu.Unlock()
}

// String lists the names, sorted: "withauth admin-auth@file, home-auth@file".
func (u *users) String() string {
	if u == nil {
		return "withauth"
	}
	u.mu.Lock()
	names := make([]string, 0, len(u.names))
	for name := range u.names {
		names = append(names, name)
	}
	u.mu.Unlock()
	sort.Strings(names)
	return "withauth " + strings.Join(names, ", ")
}

// redactURL is raw as it may be logged or put in an error: a password in its userinfo
// (https://keys:S3cret@idp/...) replaced by "xxxxx", as url.URL.Redacted does. What is not an
// absolute URL with an authority (it does not parse, or reads as scheme:opaque) loses
// everything before the last "@" of its first segment.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Opaque == "" {
		return u.Redacted()
	}
	start := strings.Index(raw, "://")
	if start < 0 {
		start = 0
	} else {
		start += len("://")
	}
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndexByte(raw[start:end], '@')
	if at < 0 {
		return raw
	}
	return raw[:start] + "xxxxx" + raw[start+at:]
}
