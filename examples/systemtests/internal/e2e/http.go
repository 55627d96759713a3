//go:build unix

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FreeAddr returns 127.0.0.1:port for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// NewClient returns an HTTP client with an overall timeout whose idle
// connections are closed when the test ends, so goleak sees no stray
// connection goroutines.
func NewClient(t testing.TB, timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// WaitStatus polls url until it answers want, failing the test after
// within. It returns how long that took.
func WaitStatus(t testing.TB, c *http.Client, url string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var last string
	for {
		code, body, err := Get(c, url, nil)
		if err == nil && code == want {
			return time.Since(start)
		}
		last = fmt.Sprintf("status %d, body %s, err %v", code, body, err)
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %v; last: %s", url, want, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Get sends GET url with the headers and returns the status and body.
func Get(c *http.Client, url string, header http.Header) (int, []byte, error) {
	return Do(c, http.MethodGet, url, header, nil)
}

// Do sends a request; a non-nil body goes as JSON.
func Do(c *http.Client, method, url string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, b, err
}

// maxAnswer: no answer of these services is larger.
const maxAnswer = 1 << 20

// CopyLimited copies at most 1 MiB: no answer of these services is larger.
func CopyLimited(dst io.Writer, src io.Reader) (int64, error) {
	return io.Copy(dst, io.LimitReader(src, maxAnswer))
}

// WriteSecret writes value into dir the way the kubelet updates a mounted
// Secret: the file is a symlink through ..data to a timestamped directory,
// and an update writes a new directory and renames a new ..data symlink
// over the old one, so readers see the old or the new value, never half.
// It returns the path of the file.
func WriteSecret(t testing.TB, dir, name, value string) string {
	t.Helper()
	version := "..v" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Mkdir(filepath.Join(dir, version), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, version, name), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, name)
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
	return link
}
