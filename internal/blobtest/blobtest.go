// Package blobtest is the contract every airlock.BlobStore must keep,
// written once so that each implementation (the embedded one of files,
// the S3 one) runs the same checks. It tests what the jobs service relies
// on, not how a store keeps its blobs.
package blobtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock"
)

// Run runs the BlobStore contract as subtests of t. open is called once
// per subtest and must return an empty store (cleaned up by open's own
// t.Cleanup if need be).
func Run(t *testing.T, open func(t *testing.T) airlock.BlobStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s airlock.BlobStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"Large", testLarge},
		{"Overwrite", testOverwrite},
		{"PutKeepsCallerData", testPutKeepsCallerData},
		{"GetReturnsACopy", testGetReturnsACopy},
		{"GetUnknown", testGetUnknown},
		{"Delete", testDelete},
		{"KeysStayInside", testKeysStayInside},
		{"Concurrent", testConcurrent},
		{"ConcurrentSameKey", testConcurrentSameKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// allBytes is every byte value, twice, in an order that is not sorted.
func allBytes() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// random is n bytes of a reproducible pseudo-random stream.
func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

func get(t *testing.T, s airlock.BlobStore, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Errorf("Get(%q): %v", key, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Get(%q) = %s; want %s", key, describe(got), describe(want))
	}
}

func put(t *testing.T, s airlock.BlobStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func notFound(t *testing.T, s airlock.BlobStore, key string) {
	t.Helper()
	if got, err := s.Get(t.Context(), key); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get(%q) = %s, %v; want ErrNotFound", key, describe(got), err)
	}
}

// describe shows a blob in a failure: whole if short, else its length and
// ends.
func describe(b []byte) string {
	if len(b) <= 64 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes %q...%q", len(b), b[:16], b[len(b)-16:])
}

func testRoundTrip(t *testing.T, s airlock.BlobStore) {
	blobs := map[string][]byte{
		"flat":                []byte("one"),
		"requests/abc.json":   []byte(`{"language":"python"}`),
		"results/abc.json":    []byte(`{"status":"ok"}`),
		"deep/er/still/x.bin": {0, 1, 2, 0xff},
		"empty":               {},
		"binary":              allBytes(),
		"dots.and-dashes_1":   []byte("\x00\r\n\x00"),
	}
	for k, v := range blobs {
		put(t, s, k, v)
	}
	for k, v := range blobs {
		get(t, s, k, v)
	}
	// An empty blob is there, not missing, and reads as empty.
	if got, err := s.Get(t.Context(), "empty"); err != nil || len(got) != 0 {
		t.Errorf("Get(empty) = %q, %v", got, err)
	}
}

func testLarge(t *testing.T, s airlock.BlobStore) {
	const n = 5<<20 + 123 // a few MB, not a round size
	data := random(n, 1)
	put(t, s, "outputs/large", data)
	get(t, s, "outputs/large", data)
}

func testOverwrite(t *testing.T, s airlock.BlobStore) {
	put(t, s, "k", []byte("the first, long value"))
	put(t, s, "k", []byte("v2")) // shorter: nothing of the first may remain
	get(t, s, "k", []byte("v2"))
	put(t, s, "k", allBytes()) // longer
	get(t, s, "k", allBytes())
	put(t, s, "k", nil) // emptied
	get(t, s, "k", []byte{})
}

func testPutKeepsCallerData(t *testing.T, s airlock.BlobStore) {
	data := []byte("hello")
	put(t, s, "k", data)
	copy(data, "XXXXX")
	get(t, s, "k", []byte("hello"))
}

func testGetReturnsACopy(t *testing.T, s airlock.BlobStore) {
	put(t, s, "k", []byte("hello"))
	got, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "XXXXX")
	get(t, s, "k", []byte("hello"))
}

func testGetUnknown(t *testing.T, s airlock.BlobStore) {
	notFound(t, s, "absent") // in a store with nothing yet
	put(t, s, "present", []byte("x"))
	put(t, s, "results/one.json", []byte("x"))
	for _, k := range []string{"absent", "results/absent.json", "nodir/absent", "presen", "present2"} {
		notFound(t, s, k)
	}
	// Below a blob, or a key that is the prefix of others: not found is
	// not the only honest answer (a file is no directory, a directory no
	// file), but it must not succeed.
	for _, k := range []string{"present/child", "results", "results/"} {
		if got, err := s.Get(t.Context(), k); err == nil {
			t.Errorf("Get(%q) = %q, want an error", k, got)
		}
	}
}

func testDelete(t *testing.T, s airlock.BlobStore) {
	ctx := t.Context()
	put(t, s, "requests/abc.json", []byte("req"))
	put(t, s, "results/abc.json", []byte("res"))
	put(t, s, "requests/abcd.json", []byte("other"))
	if err := s.Delete(ctx, "requests/abc.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	notFound(t, s, "requests/abc.json")
	// Its neighbours stay.
	get(t, s, "results/abc.json", []byte("res"))
	get(t, s, "requests/abcd.json", []byte("other"))
	// A missing key is no error, twice over.
	for _, k := range []string{"requests/abc.json", "requests/abc.json", "never", "no/such/dir"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v", k, err)
		}
	}
	// A deleted key can be written again.
	put(t, s, "requests/abc.json", []byte("again"))
	get(t, s, "requests/abc.json", []byte("again"))
}

// A key never reaches outside the store: the jobs service builds keys from
// ids, and a bad id must not turn into another store's blob (a path
// elsewhere, an object of another prefix).
func testKeysStayInside(t *testing.T, s airlock.BlobStore) {
	ctx := t.Context()
	for _, key := range []string{"../x", "a/../../b", "../store2/c", "/abs", "/", "", ".", "..", "a/.."} {
		if err := s.Put(ctx, key, []byte("evil")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if got, err := s.Get(ctx, key); err == nil || errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Get(%q) = %q, %v; want a refusal", key, got, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	// A dot-dot that stays inside, a doubled slash: an ordinary key, the
	// same as its clean form.
	put(t, s, "a/../b", []byte("inside"))
	get(t, s, "b", []byte("inside"))
	put(t, s, "c//d", []byte("cd"))
	get(t, s, "c/d", []byte("cd"))
}

// Puts and Gets of different keys at once do not disturb each other.
func testConcurrent(t *testing.T, s airlock.BlobStore) {
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("w%d/r%d", w, r)
				data := random(1000+w*100+r, uint64(w*rounds+r))
				if err := s.Put(t.Context(), key, data); err != nil {
					t.Errorf("Put(%q): %v", key, err)
					return
				}
				got, err := s.Get(t.Context(), key)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get(%q) = %s, %v; want %s", key, describe(got), err, describe(data))
				}
				if r%3 == 0 {
					if err := s.Delete(t.Context(), key); err != nil {
						t.Errorf("Delete(%q): %v", key, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		notFound(t, s, fmt.Sprintf("w%d/r0", w))
		get(t, s, fmt.Sprintf("w%d/r1", w), random(1000+w*100+1, uint64(w*rounds+1)))
	}
}

// Writers of one key at once: a reader sees one writer's blob whole, never
// a mix or a part (a result is read while a retried job writes it again).
func testConcurrentSameKey(t *testing.T, s airlock.BlobStore) {
	const writers, rounds, size = 4, 8, 64 << 10
	values := make([][]byte, writers)
	for w := range values {
		values[w] = bytes.Repeat([]byte{byte('a' + w)}, size+w) // lengths differ too
	}
	put(t, s, "shared", values[0])
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				if err := s.Put(t.Context(), "shared", values[w]); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds * 2 {
				got, err := s.Get(t.Context(), "shared")
				if err != nil {
					t.Errorf("Get while writers write: %v", err)
					return
				}
				ok := false
				for _, v := range values {
					ok = ok || bytes.Equal(got, v)
				}
				if !ok {
					t.Errorf("Get while writers write = %s: no writer's whole blob", describe(got))
					return
				}
			}
		})
	}
	wg.Wait()
}
