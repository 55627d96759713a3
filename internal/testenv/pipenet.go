package testenv

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// PipeNet is an in-memory network for tests in a testing/synctest bubble,
// where real sockets do not let time advance: a net.Listener to serve an
// http.Server on and a Dial for clients (an http.Transport's DialContext),
// joined by net.Pipe. Everything it blocks on is a channel. Create it
// inside the bubble that uses it.
type PipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipeNet returns a PipeNet that accepts until Close.
func NewPipeNet() *PipeNet {
	return &PipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the server end of the next Dial.
func (p *PipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; later dials are refused.
func (p *PipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// Addr returns an address named "pipe".
func (p *PipeNet) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener, waiting until it accepts, the listener
// closes (ECONNREFUSED) or ctx ends. Network and address are ignored.
func (p *PipeNet) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, syscall.ECONNREFUSED
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

var _ net.Listener = (*PipeNet)(nil)
