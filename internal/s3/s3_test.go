package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/blobtest"
	"github.com/airlock-dev/airlock/internal/testserver"
)

// Every store of the contract is on a bucket of its own, which Open
// creates.
func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) airlock.BlobStore {
		return open(t, testserver.S3(t))
	})
}

func open(t *testing.T, rawURL string) *Store {
	t.Helper()
	s, err := Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// withPath is rawURL with its path (bucket and prefix) replaced.
func withPath(t *testing.T, rawURL, path string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path
	return u.String()
}

func TestPrefix(t *testing.T) {
	base := testserver.S3(t)
	bucket := strings.TrimPrefix(must(url.Parse(base)).Path, "/")
	ctx := t.Context()
	whole := open(t, base)
	a := open(t, withPath(t, base, "/"+bucket+"/deploy-a"))
	b := open(t, withPath(t, base, "/"+bucket+"/deploy-b/blobs/")) // a trailing slash is the same prefix
	for _, st := range []struct {
		s    *Store
		data string
	}{{whole, "whole"}, {a, "a"}, {b, "b"}} {
		if err := st.s.Put(ctx, "requests/1.json", []byte(st.data)); err != nil {
			t.Fatal(err)
		}
	}
	// Each store sees its own blob under the same key.
	for _, st := range []struct {
		s    *Store
		key  string
		want string
	}{
		{whole, "requests/1.json", "whole"},
		{a, "requests/1.json", "a"},
		{b, "requests/1.json", "b"},
		// The prefix is a path before the key, in the bucket.
		{whole, "deploy-a/requests/1.json", "a"},
		{whole, "deploy-b/blobs/requests/1.json", "b"},
	} {
		if got, err := st.s.Get(ctx, st.key); err != nil || string(got) != st.want {
			t.Errorf("Get(%q) under prefix %q = %q, %v; want %q", st.key, st.s.prefix, got, err, st.want)
		}
	}
	if err := a.Delete(ctx, "requests/1.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "requests/1.json"); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get after Delete: %v; want ErrNotFound", err)
	}
	for _, s := range []*Store{whole, b} {
		if _, err := s.Get(ctx, "requests/1.json"); err != nil {
			t.Errorf("Delete under prefix deploy-a removed the blob under prefix %q: %v", s.prefix, err)
		}
	}
	// A store's keys cannot reach out of its prefix into another's.
	if err := b.Put(ctx, "../../deploy-a/requests/1.json", []byte("evil")); err == nil {
		t.Error("Put of a key that leaves the prefix succeeded")
	}
}

// Open on a bucket that exists (made by an earlier Open, say on another
// node) finds its blobs.
func TestReopen(t *testing.T) {
	u := testserver.S3(t)
	if err := open(t, u).Put(t.Context(), "k", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if got, err := open(t, u).Get(t.Context(), "k"); err != nil || string(got) != "kept" {
		t.Errorf("Get after reopening = %q, %v", got, err)
	}
	// Stores opened at once on a new bucket: all of them succeed, whoever
	// created it.
	u = testserver.S3(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := Open(t.Context(), u); err != nil {
				t.Errorf("concurrent Open: %v", err)
			}
		})
	}
	wg.Wait()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestParseURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	good := []struct {
		url  string
		want config
	}{
		{"s3://ak:sk@s3.amazonaws.com/bucket",
			config{Endpoint: "s3.amazonaws.com", Secure: true, AccessKey: "ak", SecretKey: "sk", Bucket: "bucket"}},
		{"s3://ak:sk@127.0.0.1:9000/my-bucket?insecure=true&region=eu-west-1",
			config{Endpoint: "127.0.0.1:9000", AccessKey: "ak", SecretKey: "sk", Bucket: "my-bucket", Region: "eu-west-1"}},
		{"s3://ak:sk@minio:9000/b01/airlock/prod/?insecure=false",
			config{Endpoint: "minio:9000", Secure: true, AccessKey: "ak", SecretKey: "sk", Bucket: "b01", Prefix: "airlock/prod/"}},
		{"s3://ak:sk@[::1]:9000/bucket/p?insecure=1",
			config{Endpoint: "[::1]:9000", AccessKey: "ak", SecretKey: "sk", Bucket: "bucket", Prefix: "p/"}},
		// An AWS secret with / and + in it, percent-encoded.
		{"s3://AKIAEXAMPLE:wJalr%2FK7MDENG%2BbPxRfi@s3.eu-west-1.amazonaws.com/bucket/",
			config{Endpoint: "s3.eu-west-1.amazonaws.com", Secure: true, AccessKey: "AKIAEXAMPLE", SecretKey: "wJalr/K7MDENG+bPxRfi", Bucket: "bucket"}},
	}
	for _, tc := range good {
		got, err := parseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("parseURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}

	bad := []struct{ url, why string }{
		{"", "scheme"},
		{"bucket", "scheme"},
		{"https://ak:SEKRIT@host/bucket", "scheme must be s3"},
		{"s3:bucket", "no endpoint"},
		{"s3://", "no endpoint"},
		{"s3:///bucket", "no endpoint"},
		{"s3://ak:SEKRIT@host", "no bucket"},
		{"s3://ak:SEKRIT@host/", "no bucket"},
		{"s3://ak:SEKRIT@host:99999/bucket", "bad port"},
		{"s3://ak:SEKRIT@host:0/bucket", "bad port"},
		{"s3://ak:SEKRIT@host/Bad_Bucket", "bucket"},
		{"s3://ak:SEKRIT@host/ab", "bucket"},
		{"s3://ak:SEKRIT@host/bucket/a/../b", "prefix"},
		{"s3://ak:SEKRIT@host/bucket/a//b", "prefix"},
		{"s3://ak:SEKRIT@host/bucket/..", "prefix"},
		{"s3://ak:SEKRIT@host/bucket?insecre=true", `unknown parameter "insecre"`},
		{"s3://ak:SEKRIT@host/bucket?insecure=maybe", "insecure"},
		{"s3://ak@host/bucket", "ACCESS_KEY:SECRET_KEY"},
		{"s3://ak:@host/bucket", "ACCESS_KEY:SECRET_KEY"},
		{"s3://:SEKRIT@host/bucket", "ACCESS_KEY:SECRET_KEY"},
		{"s3://host/bucket", "no credentials"},
		{"s3://ak:wJalr/K7MDENG+bPxRfi@host/bucket", "%2F"}, // an unescaped / in the secret
		{"s3://ak:12345/K7MDENG@host/bucket", "%2F"},        // the same, that parses as a port
		{"s3://ak:SEKRIT%zz@host/bucket", "malformed"},
		{"::::", "malformed"},
	}
	for _, tc := range bad {
		start := time.Now()
		s, err := Open(t.Context(), tc.url) // fails before any request
		if err == nil {
			t.Errorf("Open(%q) = %+v; want an error", tc.url, s)
			continue
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Open(%q) took %s to fail", tc.url, d)
		}
		checkMessage(t, tc.url, err, tc.why, "SEKRIT", "wJalr", "K7MDENG", "12345")
	}
}

// Without credentials in the URL, the AWS variables of the environment
// give them.
func TestCredentialsFromEnv(t *testing.T) {
	u, err := url.Parse(testserver.S3(t))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := u.User.Password()
	t.Setenv("AWS_ACCESS_KEY_ID", u.User.Username())
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	u.User = nil
	s := open(t, u.String())
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// The URL's credentials win over the environment's.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	u.User = url.UserPassword(os.Getenv("AWS_ACCESS_KEY_ID"), secret)
	open(t, u.String())
	// And wrong ones from the environment are refused like any.
	u.User = nil
	if _, err := Open(t.Context(), u.String()); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("Open with a wrong secret from the environment: %v", err)
	}
}

// checkMessage checks that an error is one line, says why (contains why)
// and carries none of the secrets.
func checkMessage(t *testing.T, what string, err error, why string, secrets ...string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("%s: error of more than one line: %q", what, msg)
	}
	if !strings.Contains(msg, why) {
		t.Errorf("%s: error %q does not say %q", what, msg, why)
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("%s: error %q shows the secret %q", what, msg, s)
		}
	}
}

// Open fails within seconds, saying why, whatever is wrong with the
// server or the credentials.
func TestOpenErrors(t *testing.T) {
	good := must(url.Parse(testserver.S3(t)))
	secret, _ := good.User.Password()
	access := good.User.Username()
	// The server's secret is not among the secrets of the cases below,
	// but no error may show it either.
	secrets := []string{secret}

	closedPort := testserver.ClosedPort(t)

	mute := testserver.Silent(t) // takes connections and never answers

	// A web server that is no S3 server.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>\n<body>Welcome\n</body>\n</html>\n")
	}))
	t.Cleanup(web.Close)

	// An S3 server that lets these credentials do nothing.
	denyAll := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
	})
	// One where the bucket is missing and may not be created.
	noCreate := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	})
	// One that fails.
	broken := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
	})

	withCreds := func(u url.URL, access, secret string) string {
		u.User = url.UserPassword(access, secret)
		return u.String()
	}
	withHost := func(u url.URL, host string) string {
		u.Host = host
		return u.String()
	}
	https := *good
	https.RawQuery = "region=us-east-1" // no insecure=true

	cases := []struct {
		name, url, why string
		within         time.Duration
	}{
		{"WrongSecret", withCreds(*good, access, "not-the-secret-42"), "refused the secret key", 3 * time.Second},
		{"UnknownAccessKey", withCreds(*good, "nosuchkey", "not-the-secret-42"), `does not know access key "nosuchkey"`, 3 * time.Second},
		{"ClosedPort", withHost(*good, closedPort), "cannot reach " + closedPort, 3 * time.Second},
		{"NoAnswer", withHost(*good, mute), "no answer from " + mute, OpenTimeout + 2*time.Second},
		{"HTTPSToHTTPServer", https.String(), "insecure=true", 3 * time.Second},
		{"NotS3", withHost(*good, strings.TrimPrefix(web.URL, "http://")), "is " + strings.TrimPrefix(web.URL, "http://") + " an S3 server?", 3 * time.Second},
		{"AccessDenied", withHost(*good, denyAll), "may not list bucket", 3 * time.Second},
		{"BucketNotCreatable", withHost(*good, noCreate), "does not exist and cannot be created: access key", 3 * time.Second},
		{"ServerError", withHost(*good, broken), "NotImplemented", 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			// No deadline of the caller's: Open bounds its own wait.
			s, err := Open(context.Background(), tc.url)
			d := time.Since(start)
			if err == nil {
				t.Fatalf("Open = %+v; want an error", s)
			}
			t.Logf("after %s: %v", d.Round(time.Millisecond), err)
			if d > tc.within {
				t.Errorf("Open took %s to fail; want at most %s", d, tc.within)
			}
			checkMessage(t, tc.name, err, tc.why, append(secrets, "not-the-secret-42")...)
		})
	}
}

// A deadline of the caller's earlier than OpenTimeout bounds Open.
func TestOpenCallerDeadline(t *testing.T) {
	mute := testserver.Silent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, "s3://ak:sk@"+mute+"/bucket?insecure=true&region=us-east-1")
	if d := time.Since(start); err == nil || d > 2*time.Second {
		t.Errorf("Open = %v after %s; want an error within the caller's 300ms", err, d)
	}
}

// After Open, a failing server is an error of Get, never a missing blob:
// the jobs service would tell a client that its result does not exist.
func TestGetErrorIsNotNotFound(t *testing.T) {
	var deny sync.Map // methods refused
	srv := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := deny.Load(r.Method); ok {
			s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		switch r.Method {
		case http.MethodGet:
			if r.URL.Query().Has("list-type") {
				w.Header().Set("Content-Type", "application/xml")
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bucket</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
				return
			}
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	s := open(t, "s3://ak:sk@"+srv+"/bucket?insecure=true&region=us-east-1")
	ctx := t.Context()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get of a missing key: %v; want ErrNotFound", err)
	}
	deny.Store(http.MethodGet, true)
	deny.Store(http.MethodPut, true)
	deny.Store(http.MethodDelete, true)
	if got, err := s.Get(ctx, "k"); err == nil || errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get refused by the server = %q, %v; want an error other than ErrNotFound", got, err)
	}
	if err := s.Put(ctx, "k", []byte("v")); err == nil {
		t.Error("Put refused by the server succeeded")
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete refused by the server succeeded")
	}
}

// fakeS3 serves handler on a loopback port and returns its address. It
// stands in for a server in states the real one is not put in by tests
// (permissions refused, failures).
func fakeS3(t *testing.T, handler http.HandlerFunc) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, message)
	w.Write(b.Bytes())
}
