package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// round is what one target did in one bounded round.
type round struct {
	requests int
	errors   int
	elapsed  time.Duration
	latency  []time.Duration // sorted
}

// figures are the round's totals and quantiles.
func (r round) figures() results.Round {
	return results.Round{
		Requests: r.requests, Errors: r.errors, Seconds: r.elapsed.Seconds(),
		P50ms: results.Quantile(r.latency, 0.50), P99ms: results.Quantile(r.latency, 0.99),
	}
}

// drive keeps conns keep-alive connections to addr busy with GET path,
// one request in flight on each, until d has passed, and returns what they
// measured. The generator writes the request bytes itself and reads each
// answer with http.ReadResponse: a load generator cheaper than the server
// it measures, which matters when both share two cores.
func drive(addr, path string, conns int, d time.Duration) (round, error) {
	req := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: prodready-load/1\r\nAccept: */*\r\n\r\n", path, addr)
	start := time.Now()
	stop := start.Add(d)
	var (
		mu    sync.Mutex
		total round
		first error
		wg    sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			w := worker{addr: addr, req: req, stop: stop}
			lat, errs, err := w.run()
			mu.Lock()
			defer mu.Unlock()
			total.requests += len(lat)
			total.errors += errs
			total.latency = append(total.latency, lat...)
			if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	slices.Sort(total.latency)
	return total, first
}

// worker is one connection's request loop.
type worker struct {
	addr string
	req  []byte
	stop time.Time
}

// run sends requests back to back until stop. A broken connection is
// counted as an error and redialled; a failed dial ends the worker.
func (w worker) run() (lat []time.Duration, errs int, err error) {
	lat = make([]time.Duration, 0, 4096)
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		t0 := time.Now()
		if !t0.Before(w.stop) {
			return lat, errs, nil
		}
		if conn == nil {
			if conn, err = net.DialTimeout("tcp", w.addr, time.Second); err != nil {
				return lat, errs, err
			}
			// A server that stops answering cannot hold the tool past the
			// round by more than this.
			_ = conn.SetDeadline(w.stop.Add(5 * time.Second))
			br = bufio.NewReaderSize(conn, 16<<10)
		}
		ok, rerr := w.once(conn, br)
		if rerr != nil {
			errs++
			conn.Close()
			conn = nil
			continue
		}
		lat = append(lat, time.Since(t0))
		if !ok {
			errs++
		}
	}
}

// once sends one request and reads its whole answer; ok is a 200.
func (w worker) once(conn net.Conn, br *bufio.Reader) (ok bool, err error) {
	if _, err := conn.Write(w.req); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, err
}
