package native

import (
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// TestCappedBuffer keeps up to its limit, says once that it was passed,
// and passes on only what it keeps.
func TestCappedBuffer(t *testing.T) {
	var calls int
	var teed []byte
	c := &cappedBuffer{limit: 5, onLimit: func() { calls++ }, tee: func(b []byte) { teed = append(teed, b...) }}
	for _, w := range []string{"abc", "de", "fgh", "ij"} {
		if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: a capped buffer takes everything", w, n, err)
		}
	}
	got, truncated := c.bytes()
	if string(got) != "abcde" || !truncated || calls != 1 || string(teed) != "abcde" {
		t.Fatalf("kept %q (truncated %v), %d calls of onLimit, teed %q; want \"abcde\", true, 1, \"abcde\"", got, truncated, calls, teed)
	}
}

// TestRunOutput: each stream is capped on its own, going over kills the
// run with the stream's name, and the interleaving keeps both.
func TestRunOutput(t *testing.T) {
	var killed []string
	kill := func(s airlock.Status, msg string) { killed = append(killed, string(s)+": "+msg) }
	var mu sync.Mutex
	var live []string
	o := newRunOutput(4, true, &sandbox.Live{Output: func(stream string, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		live = append(live, stream+" "+string(b))
	}}, kill)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	defer errR.Close()
	o.copy(outR, errR)
	if _, err := errW.WriteString("err"); err != nil {
		t.Fatal(err)
	}
	errW.Close()
	if _, err := outW.WriteString("output"); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	o.wait()
	var res sandbox.Result
	o.fill(&res)
	if string(res.Stdout) != "outp" || !res.StdoutTruncated || string(res.Stderr) != "err" || res.StderrTruncated {
		t.Fatalf("stdout %q (truncated %v), stderr %q (truncated %v)", res.Stdout, res.StdoutTruncated, res.Stderr, res.StderrTruncated)
	}
	// The two pipes are read side by side: either may come first.
	if got := string(res.Interleaved); got != "erroutpu" && got != "outputer" {
		t.Fatalf("interleaved %q, want both streams as they came, up to twice the limit", got)
	}
	if len(killed) != 1 || killed[0] != "output_limit: stdout exceeded the output limit" {
		t.Fatalf("kills %q", killed)
	}
	slices.Sort(live)
	if want := []string{"stderr err", "stdout outp"}; !slices.Equal(live, want) {
		t.Fatalf("live output %q, want %q", live, want)
	}
}
