package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// openLoop sends GET path to addr at rate requests per second, Poisson
// arrivals, for d: each request leaves at its scheduled time whatever the
// server is doing (an idle keep-alive connection if there is one, a new
// one otherwise, up to maxConns), and is given up deadline after it was
// due. Latency is counted from when the request was due, so a generator
// that falls behind shows it rather than hides it. admin's /livez is
// probed every 100 ms meanwhile.
func openLoop(addr, admin, path string, rate float64, d, deadline time.Duration, maxConns int) (results.Level, error) {
	req := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: prodready-overload/1\r\n\r\n", path, addr)
	var (
		mu      sync.Mutex
		lv      results.Level
		okLat   []time.Duration
		refLat  []time.Duration
		wg      sync.WaitGroup
		open    atomic.Int64
		idle    = make(chan *clientConn, maxConns)
		dialErr atomic.Pointer[error]
	)
	record := func(status int, lat time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) || (err == nil && lat > deadline):
			lv.Timeouts++
		case err != nil:
			lv.Errors++
		case status == http.StatusOK:
			lv.OK++
			okLat = append(okLat, lat)
		case status == http.StatusServiceUnavailable:
			lv.Refused++
			refLat = append(refLat, lat)
		default:
			lv.Errors++
		}
	}
	one := func(due time.Time) {
		defer wg.Done()
		var c *clientConn
		select {
		case c = <-idle:
		default:
			if open.Add(1) > int64(maxConns) {
				open.Add(-1)
				record(0, 0, errors.New("generator: out of connections"))
				return
			}
			nc, err := net.DialTimeout("tcp", addr, deadline)
			if err != nil {
				open.Add(-1)
				dialErr.Store(&err)
				record(0, 0, err)
				return
			}
			c = &clientConn{Conn: nc, br: bufio.NewReaderSize(nc, 4<<10)}
		}
		_ = c.SetDeadline(due.Add(deadline))
		status, err := c.do(req)
		lat := time.Since(due)
		record(status, lat, err)
		if err != nil {
			c.Close()
			open.Add(-1)
			return
		}
		idle <- c
	}

	stopProbe := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		client := &http.Client{Timeout: time.Second}
		defer client.CloseIdleConnections()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProbe:
				return
			case <-t.C:
			}
			t0 := time.Now()
			res, err := client.Get("http://" + admin + "/livez")
			ms := float64(time.Since(t0)) / 1e6
			mu.Lock()
			lv.LivezMax = max(lv.LivezMax, ms)
			if err != nil || res.StatusCode != http.StatusOK {
				lv.LivezFail++
			}
			mu.Unlock()
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(rate*1000), 27)) // #nosec G404 -- arrival times, not secrets
	start := time.Now()
	end := start.Add(d)
	next := start
	for next.Before(end) {
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		now := time.Now()
		for !next.After(now) && next.Before(end) {
			wg.Add(1)
			lv.Sent++
			go one(next)
			next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		}
	}
	wg.Wait()
	close(stopProbe)
	<-probeDone
	close(idle)
	for c := range idle {
		c.Close()
	}
	if p := dialErr.Load(); p != nil {
		lv.DialError = (*p).Error() // a server too busy to accept, counted in Errors
	}
	slices.Sort(okLat)
	slices.Sort(refLat)
	lv.Rate, lv.Seconds = rate, d.Seconds()
	lv.Goodput = float64(lv.OK) / d.Seconds()
	lv.OKP50ms, lv.OKP99ms = results.Quantile(okLat, 0.5), results.Quantile(okLat, 0.99)
	lv.RefP99ms = results.Quantile(refLat, 0.99)
	return lv, nil
}

// clientConn is one keep-alive connection of the generator.
type clientConn struct {
	net.Conn
	br *bufio.Reader
}

// do sends one request and reads its whole answer.
func (c *clientConn) do(req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err == nil && res.Close {
		err = errors.New("server closed the connection")
	}
	return res.StatusCode, err
}

// closedLoop keeps conns connections busy with GET path for d, one request
// in flight on each, and returns the rate of 200s: the capacity.
func closedLoop(addr, path string, conns int, d time.Duration) (float64, error) {
	req := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: prodready-overload/1\r\n\r\n", path, addr)
	var ok atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	stop := time.Now().Add(d)
	for range conns {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				errs <- err
				return
			}
			c := &clientConn{Conn: nc, br: bufio.NewReader(nc)}
			defer c.Close()
			_ = c.SetDeadline(stop.Add(5 * time.Second))
			for time.Now().Before(stop) {
				status, err := c.do(req)
				if err != nil {
					errs <- err
					return
				}
				if status == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(ok.Load()) / d.Seconds(), nil
}
