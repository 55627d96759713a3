package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prodready/prodready/internal/testenv"
)

// TestPinnedWithAPipe starts a process the way start does, on CPU 0 with
// its stdout a pipe, and reads back what the kernel says of it.
func TestPinnedWithAPipe(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		testenv.Missing(t, "taskset", "apt-get install -y util-linux")
	}
	s := settings{pin: true, serverCPU: 0, genCPU: 1}
	cmd := s.onCPU(0, exec.Command("sh", "-c", "echo ready; exec sleep 10"))
	if got := strings.Join(cmd.Args, " "); got != "taskset -c 0 sh -c echo ready; exec sleep 10" {
		t.Fatalf("args %q", got)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// taskset has set the mask and exec'd sh once sh writes.
	if line, err := bufio.NewReader(pr).ReadString('\n'); line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	cpus, stdout := procFacts(cmd.Process.Pid)
	if cpus != "0" || !strings.HasPrefix(stdout, "pipe:") {
		t.Errorf("CPUs %q, stdout %q", cpus, stdout)
	}
	if unpinned := (settings{}).onCPU(0, exec.Command("sleep", "1")); len(unpinned.Args) != 2 {
		t.Errorf("unpinned args %q", unpinned.Args)
	}
}
