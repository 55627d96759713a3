package service

import (
	"log"
	"net"
	"net/http"
	"time"
)

// Server defaults. No request may hold a connection for ever: the header
// timeout stops slowloris (a client that sends its headers a byte at a
// time), the read timeout slow bodies, the write timeout leaves room for
// catalog's slowest /work (30s), and idle keep-alive connections go after
// a minute. Headers are capped well below net/http's 1 MiB default: no
// client of these services sends more than a few KiB.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	readTimeout              = 15 * time.Second
	writeTimeout             = 45 * time.Second
	idleTimeout              = 60 * time.Second
	maxHeaderBytes           = 64 << 10
	// maxBody bounds any request body on the traffic port, whatever a
	// handler forgets; handlers that decode a body set their own, smaller
	// limit (orders: 4 KiB).
	maxBody = 1 << 20
	// maxAdminBody bounds a request body on the admin port: a /loglevel
	// change is a few bytes of JSON.
	maxAdminBody = 4 << 10
)

// NewServer returns an http.Server for addr with every timeout set and the
// header size capped, logging its own errors (TLS handshakes, panics,
// accept errors) to errorLog. readHeaderTimeout of zero or less means
// DefaultReadHeaderTimeout. Set anything else before serving.
func NewServer(addr string, h http.Handler, readHeaderTimeout time.Duration, errorLog *log.Logger) *http.Server {
	if readHeaderTimeout <= 0 {
		readHeaderTimeout = DefaultReadHeaderTimeout
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       max(readTimeout, readHeaderTimeout),
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Client defaults: each phase of a call has its own bound, so a peer that
// accepts and then says nothing costs a request seconds, not a goroutine
// for ever; idle connections are kept, but a bounded number.
const (
	dialTimeout         = 2 * time.Second
	tlsHandshakeTimeout = 2 * time.Second
	keepAlive           = 30 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConns        = 64
	maxIdleConnsPerHost = 32
)

// NewClient returns an HTTP client for calls to other services: dial, TLS
// handshake, response header and the whole exchange (timeout, which
// includes reading the body) all bounded, idle connections bounded, and
// HTTP_PROXY honoured. Use it instead of http.DefaultClient, which waits
// for ever. Wrap its Transport to add tracing or correlation IDs.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ResponseHeaderTimeout: timeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       idleConnTimeout,
			MaxIdleConns:          maxIdleConns,
			MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		},
	}
}
