package testserver

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// startChild runs this test binary again, for the test named name alone,
// with env (NAME=value) added to its environment, so that a test can see
// what becomes of the servers of a binary that ends; the child is killed,
// if it still runs, when t ends. sc reads its standard output; closing
// stdin ends its standard input.
func startChild(t *testing.T, name, env string) (cmd *exec.Cmd, sc *bufio.Scanner, stdin io.Closer) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	// Open until closed or the child is killed: a child may read it to
	// the end to wait for its parent.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out), stdin
}

func TestNamePart(t *testing.T) {
	for name, want := range map[string]string{
		"TestContract/RoundTrip":    "testcontract-roundtrip",
		"Test__Weird__":             "test-weird",
		"___":                       "x",
		strings.Repeat("Ab", 40):    strings.Repeat("ab", 20),
		"TestX/with spaces & émoji": "testx-with-spaces-moji",
	} {
		if got := namePart(name, '-'); got != want {
			t.Errorf("namePart(%q, '-') = %q; want %q", name, got, want)
		}
	}
	if got, want := namePart("TestPostgres/a-b", '_'), "testpostgres_a_b"; got != want {
		t.Errorf("namePart with '_' = %q; want %q", got, want)
	}
}
