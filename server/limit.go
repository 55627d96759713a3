package server

import (
	"container/list"
	"io"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxConns is the cap Limit uses when given none: the process's
// descriptor limit less headroom for everything else that needs a
// descriptor. The limit is RLIMIT_NOFILE's soft limit, which the Go
// runtime raises to the hard limit at start; the headroom is a tenth of
// it, at least 128 and at most half: 128 of 256, 896 of 1024, 943,719 of
// 1,048,576. The least headroom, 128, is reserved so that connections
// never take the process to EMFILE: the admin port's MaxAdminConns (32),
// a refusal in progress on each of the two ports (maxLingering, 16 each),
// and 64 for the rest (listeners, outbound connection pools, the database
// pool, secret and certificate files, the runtime's own). It is 0 where
// the platform has no such limit.
func DefaultMaxConns() int {
	n, ok := nofile()
	if !ok {
		return 0
	}
	return maxConnsFor(n)
}

// maxConnsFor is DefaultMaxConns for a descriptor limit of n.
func maxConnsFor(n uint64) int {
	n = min(n, math.MaxInt32) // RLIM_INFINITY, or more than any process holds
	limit := int(n)
	return max(limit-max(limit/10, minHeadroom), limit/2)
}

// minHeadroom is the fewest descriptors DefaultMaxConns leaves for
// everything but the traffic port: see DefaultMaxConns for what it holds.
const minHeadroom = 128

// MaxAdminConns is the cap for the admin port: Limit(admin, ln,
// MaxAdminConns). The kubelet's probes, a Prometheus scrape and an
// operator's profile need a few connections at a time, and the admin
// port's descriptors come out of DefaultMaxConns' headroom, so a client
// holding idle keep-alives there cannot exhaust the process's descriptors
// either: at the cap the longest idle one is closed for the next probe.
const MaxAdminConns = 32

// The memory budget: the connections of one Limit may hold at most
// memoryShare of the Go runtime's memory limit (GOMEMLIMIT, which
// memlimit sets from the cgroup), each counted at connCost, what it may
// hold while its headers are read. See connCost for the measurement.
const (
	memoryShare = 4 // a quarter of the limit
	// memoryRefresh is how often the cap follows a changed limit
	// (memlimit.Follow, debug.SetMemoryLimit): reading it takes the
	// runtime's heap lock, too much for every accept.
	memoryRefresh = time.Second
)

// connCost is what one connection may hold while it reads request headers
// of up to maxHeader bytes: net/http reads maxHeader plus 4 KiB, the
// header map holds them again as strings, and the connection has its
// buffers and goroutine stack. Measured (TestConnCost, -v; live heap and
// stacks after a collection, 200 connections each with headers just under
// the limit and never ended): 86 KiB for 64 KiB, 29 KiB for 16 KiB,
// 18.6 KiB for 8 KiB, so about 1.2 times maxHeader plus 10 KiB; the
// estimate is 1.25 times plus 12 KiB.
func connCost(maxHeader int) int64 {
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	return int64(maxHeader)/4*5 + 12<<10
}

// memoryCap is the number of connections of cost each that memoryShare
// of limit allows; 0 when there is no limit.
func memoryCap(limit, cost int64) int {
	if limit <= 0 || limit == math.MaxInt64 {
		return 0
	}
	return int(max(limit/memoryShare/cost, 1))
}

// Refusals: a connection over the cap is answered with a 503 and closed.
// Each one in progress holds a descriptor, for lingerTime at most, and at
// most maxLingering are in progress; past that a connection is closed at
// once.
const (
	lingerTime   = time.Second
	maxLingering = 16
	// refusal is the whole answer, sent after the client's first bytes:
	// the client reads it as the response to its request.
	refusal = "HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\n" +
		"Retry-After: 1\r\n" +
		"Content-Length: 38\r\n" +
		"\r\n" +
		"server at its connection limit, retry\n"
)

// Listener is a net.Listener that caps the connections an http.Server
// serves on it; Limit makes one. Its methods are safe for concurrent use.
type Listener struct {
	ln    net.Listener
	max   int
	plain bool  // refuse with a 503; false: TLS, refuse by closing
	cost  int64 // connCost of the server's MaxHeaderBytes

	memoryLimit func() int64 // the runtime's limit; a test's otherwise

	mu        sync.Mutex
	memMax    int       // memoryCap now; 0: none
	memAt     time.Time // when memMax was computed
	open      int
	waiting   list.List // *conn with no request in flight, longest-waiting first
	lingering map[net.Conn]struct{}
	closed    bool

	evicted, refused atomic.Uint64
	linger           sync.WaitGroup
}

var _ net.Listener = (*Listener)(nil)

// Limit wraps ln so that srv never holds more than max connections on it.
// max zero or less means DefaultMaxConns, and no cap where that is 0.
// Give the admin port MaxAdminConns.
//
// The cap is also bounded by memory: the connections may hold at most a
// quarter of the Go runtime's memory limit (GOMEMLIMIT, as memlimit sets
// it from the container's limit), each counted at what it can hold while
// its request headers are read, about 1.25 times srv.MaxHeaderBytes plus
// 12 KiB (32 KiB with New's 16 KiB): 921 connections with a 128 MiB
// container's 115 MiB limit. Without that bound, 2500 connections sending
// 56 KiB of headers that never end took a 128 MiB container to its limit
// and its probes failed. The bound follows the runtime's limit when it
// changes (memlimit.Follow), within a second; without a limit there is
// none.
//
// When a connection arrives at the cap, the connection that has waited
// longest without a request in flight (idle between keep-alive requests,
// or accepted and silent) is closed to make room: a client holding
// hundreds of idle keep-alive connections cannot shut everyone else out.
// Only when every connection has a request in flight is the new one
// refused at once: answered "503 Service Unavailable" with Retry-After
// and closed, or, when srv has a TLSConfig, closed without a word (a
// plain-text answer means nothing to a TLS client). Nothing waits: at the
// cap a client gets an answer or a closed connection within a second,
// never a hang.
//
// Closing a connection idle between requests can race a request the
// client is just sending on it; net/http's client retries such a request
// when it is idempotent, as it does for a server's IdleTimeout.
//
// Limit sets srv.ConnState (calling any hook already there), so that it
// knows which connections have a request in flight. Call it after setting
// srv.TLSConfig and before serving, and serve srv on the returned
// listener:
//
//	ln, err := net.Listen("tcp", srv.Addr)
//	if err != nil {
//		return err
//	}
//	sd.Serve(srv, server.Limit(srv, ln, 0))
//
// The cap is what keeps the descriptors the admin port needs free, so the
// admin server goes on its own listener and its own port. A process with
// two traffic ports gives each its share of DefaultMaxConns.
func Limit(srv *http.Server, ln net.Listener, max int) *Listener {
	if max <= 0 {
		max = DefaultMaxConns()
	}
	if max <= 0 {
		max = math.MaxInt
	}
	l := &Listener{
		ln: ln, max: max, plain: srv.TLSConfig == nil, cost: connCost(srv.MaxHeaderBytes),
		memoryLimit: func() int64 { return debug.SetMemoryLimit(-1) },
		lingering:   make(map[net.Conn]struct{}),
	}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.track(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	return l
}

// Stats is a snapshot of a Listener, for metrics: each field is a plain
// value a gauge or counter function can read.
type Stats struct {
	Max     int    // the cap now: the smaller of Limit's max and the memory budget's
	Memory  int    // the memory budget's cap, 0 without a memory limit
	Open    int    // connections open now
	Idle    int    // of those, the ones without a request in flight
	Evicted uint64 // idle connections closed to make room, since Limit
	Refused uint64 // connections refused at the cap, since Limit
}

// Stats returns the listener's counts now.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Max: l.capNow(time.Now()), Memory: l.memMax, Open: l.open, Idle: l.waiting.Len(), Evicted: l.evicted.Load(), Refused: l.refused.Load()}
}

// Accept waits for the next connection under the cap, making room or
// refusing as Limit describes; it returns only the connections it admits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		c, victim := l.admit(nc)
		if victim != nil {
			_ = victim.Conn.Close()
		}
		if c != nil {
			return c, nil
		}
		l.refuse(nc)
	}
}

// Close closes the underlying listener and ends the refusals still in
// progress. Connections already accepted are the server's to close.
func (l *Listener) Close() error {
	err := l.ln.Close()
	l.mu.Lock()
	l.closed = true
	for c := range l.lingering {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.linger.Wait()
	return err
}

// Addr returns the underlying listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// admit counts nc in when there is room or an idle connection to make room
// with (the victim, counted out already, for the caller to close), and
// returns nil when nc must be refused.
func (l *Listener) admit(nc net.Conn) (c, victim *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.capNow(time.Now()) {
		front := l.waiting.Front()
		if front == nil {
			return nil, nil
		}
		victim = front.Value.(*conn)
		l.countOut(victim)
		l.evicted.Add(1)
	}
	l.open++
	return &conn{Conn: nc, l: l}, victim
}

// capNow is the cap in force: max, or the memory budget's when smaller,
// refreshed every memoryRefresh. l.mu is held.
func (l *Listener) capNow(now time.Time) int {
	if l.memAt.IsZero() || now.Sub(l.memAt) >= memoryRefresh {
		l.memMax, l.memAt = memoryCap(l.memoryLimit(), l.cost), now
	}
	if l.memMax > 0 && l.memMax < l.max {
		return l.memMax
	}
	return l.max
}

// countOut stops counting c; l.mu is held.
func (l *Listener) countOut(c *conn) {
	if c.out {
		return
	}
	c.out = true
	l.open--
	if c.elem != nil {
		l.waiting.Remove(c.elem)
		c.elem = nil
	}
}

// track is srv.ConnState: a connection is waiting from when it is accepted
// (new) and between requests (idle), and busy while a request is in
// flight or once hijacked (a handler owns it; it is counted until closed).
func (l *Listener) track(nc net.Conn, state http.ConnState) {
	c := l.own(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.out {
		return
	}
	switch state {
	case http.StateNew, http.StateIdle:
		if c.elem == nil {
			c.elem = l.waiting.PushBack(c)
		}
	default:
		if c.elem != nil {
			l.waiting.Remove(c.elem)
			c.elem = nil
		}
	}
}

// own finds this listener's connection under nc: the server hands
// ConnState the connection it serves, which for TLS is a *tls.Conn around
// ours.
func (l *Listener) own(nc net.Conn) *conn {
	for {
		switch c := nc.(type) {
		case *conn:
			if c.l == l {
				return c
			}
			return nil
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
}

// refuse answers a connection over the cap and closes it, in the
// background and bounded: lingerTime each, maxLingering at once.
func (l *Listener) refuse(nc net.Conn) {
	l.refused.Add(1)
	l.mu.Lock()
	if !l.plain || l.closed || len(l.lingering) >= maxLingering {
		l.mu.Unlock()
		_ = nc.Close()
		return
	}
	l.lingering[nc] = struct{}{}
	l.linger.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.linger.Done()
		answer(nc)
		l.mu.Lock()
		delete(l.lingering, nc)
		l.mu.Unlock()
	}()
}

// answer sends the refusal after the client's first bytes (so that it
// reads it as the response to its request), then reads until the client
// closes, so that the unread rest of its request cannot make the kernel
// reset the connection before the answer is read; lingerTime in all.
func answer(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(lingerTime))
	var buf [4 << 10]byte
	if _, err := nc.Read(buf[:]); err != nil {
		return
	}
	if _, err := io.WriteString(nc, refusal); err != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// conn is an admitted connection, counted until its first Close.
type conn struct {
	net.Conn
	l *Listener
	// Guarded by l.mu.
	elem *list.Element // in l.waiting while no request is in flight
	out  bool          // no longer counted: closed, or evicted
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.countOut(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite and ReadFrom pass on what net/http looks for on a
// *net.TCPConn: the half-close after a "Connection: close" response, which
// lets the client read all of it before the connection goes, and sendfile.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }
