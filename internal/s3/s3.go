// Package s3 is the distributed BlobStore: blobs as objects of a bucket of
// an S3-compatible server (AWS S3, MinIO, versitygw, Ceph, ...), so that
// API nodes and workers on any number of hosts share them.
//
// A store is named by a URL:
//
//	s3://[ACCESS_KEY:SECRET_KEY@]HOST[:PORT]/BUCKET[/PREFIX][?region=REGION&insecure=true]
//
// in which:
//
//   - HOST[:PORT] is the server's endpoint (s3.amazonaws.com,
//     s3.eu-west-1.amazonaws.com, minio.internal:9000, ...), spoken to over
//     HTTPS unless insecure=true, which means plain HTTP (a server on the
//     same host or a trusted network; no TLS at all, not TLS unchecked).
//   - The credentials come from the URL, or, when it has none, from the
//     environment's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN (which keeps secrets out of command lines). A
//     secret with '/' or '+' in it must be percent-encoded in the URL
//     (%2F, %2B).
//   - BUCKET is created at Open if missing. PREFIX, if any, is put before
//     every key, so that several deployments can share a bucket.
//   - region is the bucket's region; without it the client asks the server.
//
// The credentials need s3:ListBucket on the bucket besides the object
// permissions (Get, Put, Delete): without it S3 answers a Get of a missing
// key with AccessDenied rather than NoSuchKey, and Open checks access by
// listing.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/airlock-dev/airlock"
)

// OpenTimeout bounds Open's check of the server when its context has no
// earlier deadline: a wrong endpoint must fail a start in seconds, not
// hang it.
const OpenTimeout = 5 * time.Second

// Store keeps blobs as objects of one bucket, under an optional prefix.
type Store struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending with "/"
}

var _ airlock.BlobStore = (*Store)(nil)

// config is what a store URL says.
type config struct {
	Endpoint     string // host[:port]
	Secure       bool   // HTTPS
	AccessKey    string
	SecretKey    string
	SessionToken string // temporary credentials, from AWS_SESSION_TOKEN only
	Bucket       string
	Prefix       string // "" or ending with "/"
	Region       string // "": asked of the server
}

// parseURL parses a store URL (see the package doc), taking credentials
// from the environment when the URL has none. Its errors never carry the
// secret key.
func parseURL(rawURL string) (config, error) {
	var c config
	const malformed = "s3: malformed store URL: want s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?region=R&insecure=true]"
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the whole URL, secret included.
		return c, errors.New(malformed + parseHint(rawURL))
	}
	if u.User == nil && strings.Contains(rawURL, "@") {
		// Credentials that did not parse as such (s3://AK:12/34@host/b is
		// host "AK:12", path "/34@host/b"): the URL cannot be shown, it
		// holds a part of the secret.
		return c, errors.New(malformed + " (a '/' in the secret key must be written %2F, an '@' %40)")
	}
	fail := func(format string, args ...any) (config, error) {
		return config{}, fmt.Errorf("s3: store URL %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "s3" {
		return fail("the scheme must be s3://, not %q", u.Scheme+"://")
	}
	if u.Opaque != "" || u.Host == "" {
		return fail("no endpoint: want s3://HOST[:PORT]/BUCKET")
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fail("bad port %q", port)
		}
	}
	c.Endpoint = u.Host
	c.Secure = true
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			c.Region = v
		case "insecure":
			insecure, err := strconv.ParseBool(v)
			if err != nil {
				return fail("insecure=%q: want true or false", v)
			}
			c.Secure = !insecure
		default:
			// A misspelt insecure or region must not be ignored.
			return fail("unknown parameter %q (there are region and insecure)", k)
		}
	}

	p := strings.TrimPrefix(u.Path, "/")
	bucket, prefix, _ := strings.Cut(p, "/")
	if bucket == "" {
		return fail("no bucket: want s3://HOST[:PORT]/BUCKET")
	}
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return fail("bucket %q: %v", bucket, err)
	}
	c.Bucket = bucket
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		// The prefix is a path of clean segments, as keys are, so that an
		// object's name says unambiguously which store it is in.
		if path.Clean(prefix) != prefix || prefix == "." || prefix == ".." || strings.HasPrefix(prefix, "../") {
			return fail("prefix %q: want clean path segments, no '.', '..' or '//'", prefix)
		}
		c.Prefix = prefix + "/"
	}

	if u.User != nil {
		c.AccessKey = u.User.Username()
		secret, ok := u.User.Password()
		if c.AccessKey == "" || !ok || secret == "" {
			return fail("credentials in the URL must be ACCESS_KEY:SECRET_KEY@")
		}
		c.SecretKey = secret
	} else {
		c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
		if c.AccessKey == "" || c.SecretKey == "" {
			return fail("no credentials: put ACCESS_KEY:SECRET_KEY@ in the URL or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	}
	return c, nil
}

// parseHint says what is likely wrong with a URL that does not parse,
// without repeating it (it may hold a secret).
func parseHint(rawURL string) string {
	if strings.Contains(rawURL, "@") {
		return " (a '/' in the secret key must be written %2F, an '@' %40, a '%' %25)"
	}
	return ""
}

// Open parses rawURL, connects to the server and checks, within
// OpenTimeout (or ctx's deadline if earlier), that the credentials are
// accepted, that the bucket can be listed, creating it if it does not
// exist, and that a missing blob reads as missing. Its errors are one
// line, say what is wrong (unreachable endpoint, refused credentials,
// missing permission, ...) and never carry the secret key.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	c, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(c.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	// Bounds on the steps that precede a response, so that a dead or
	// black-holed server fails a request instead of hanging it; the body
	// of a large blob takes the time it takes.
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = time.Minute
	opts := &minio.Options{
		Creds:     credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken),
		Secure:    c.Secure,
		Transport: tr,
		Region:    c.Region,
	}
	client, err := minio.New(c.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3: %s: %w", c, err)
	}
	// The check at Open does not retry: a wrong URL should fail at once
	// and say why, rather than after retries end in a timeout.
	probeOpts := *opts
	probeOpts.MaxRetries = 1
	probe, err := minio.New(c.Endpoint, &probeOpts)
	if err != nil {
		return nil, fmt.Errorf("s3: %s: %w", c, err)
	}
	s := &Store{client: client, bucket: c.Bucket, prefix: c.Prefix}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	if err := s.check(ctx, probe, c); err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", c, err)
	}
	return s, nil
}

// String is the store's location without its credentials, for errors.
func (c config) String() string {
	scheme := "https"
	if !c.Secure {
		scheme = "http"
	}
	return scheme + "://" + c.Endpoint + "/" + c.Bucket + "/" + c.Prefix
}

// check lists at most one key of the store, creating the bucket if there
// is none, then reads a missing object. A listing, rather than a HEAD of
// the bucket, because S3 answers it with an error code that tells bad
// credentials from a missing permission (a HEAD's error has no body).
func (s *Store) check(ctx context.Context, probe *minio.Client, c config) error {
	start := time.Now()
	err := list1(ctx, probe, s.bucket, s.prefix)
	if minio.ToErrorResponse(err).Code == minio.NoSuchBucket {
		mkErr := probe.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: c.Region})
		// Whatever the answer, the bucket may be there now: another node
		// may have created it meanwhile, and servers differ in what they
		// answer the loser (BucketAlreadyOwnedByYou, an internal error).
		err = list1(ctx, probe, s.bucket, s.prefix)
		if mkErr != nil && minio.ToErrorResponse(err).Code == minio.NoSuchBucket {
			return fmt.Errorf("bucket %s does not exist and cannot be created: %s", s.bucket, explain(ctx, mkErr, c, "create bucket "+s.bucket, start))
		}
	}
	if err != nil {
		return errors.New(explain(ctx, err, c, "list bucket "+s.bucket, start))
	}
	// A Get of a missing blob must come back as missing: S3 says
	// AccessDenied instead to credentials without s3:ListBucket, and a web
	// server that is no S3 server may answer anything.
	name := s.prefix + ".airlock-open-check-" + rand.Text()
	body, _, _, err := minio.Core{Client: probe}.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err == nil {
		body.Close()
		return fmt.Errorf("a Get of object %s, which does not exist, succeeded: is %s an S3 server?", name, c.Endpoint)
	}
	var netErr net.Error
	switch code := minio.ToErrorResponse(err).Code; {
	case code == minio.NoSuchKey:
		return nil
	case code == "AccessDenied" || errors.As(err, &netErr) || ctx.Err() != nil:
		return errors.New(explain(ctx, err, c, "read objects of bucket "+s.bucket, start))
	default:
		return fmt.Errorf("a Get of object %s, which does not exist, answered %q, not NoSuchKey: is %s an S3 server?", name, oneLine(err), c.Endpoint)
	}
}

// list1 lists at most one key under prefix: the cheapest request that
// needs the credentials to be right and to allow listing the bucket.
func list1(ctx context.Context, client *minio.Client, bucket, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the lister after the first page
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, MaxKeys: 1}) {
		return obj.Err
	}
	return nil
}

// explain turns an error of the check, which tried to do action, into one
// line that says what to fix.
func explain(ctx context.Context, err error, c config, action string, start time.Time) string {
	var resp minio.ErrorResponse
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer from %s after %s (is it an S3 server? is the port right?)", c.Endpoint, time.Since(start).Round(100*time.Millisecond))
	case errors.As(err, &resp) && resp.Code != "":
		switch resp.Code {
		case "InvalidAccessKeyId", "XAdminUserNotFound": // the second, versitygw's
			return fmt.Sprintf("the server does not know access key %q (InvalidAccessKeyId)", c.AccessKey)
		case "SignatureDoesNotMatch":
			return fmt.Sprintf("the server refused the secret key of access key %q (SignatureDoesNotMatch)", c.AccessKey)
		case "AccessDenied":
			msg := fmt.Sprintf("access key %q may not %s (AccessDenied)", c.AccessKey, action)
			if !strings.HasPrefix(action, "create") {
				msg += "; a store needs s3:ListBucket besides s3:GetObject, s3:PutObject and s3:DeleteObject"
			}
			return msg
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
			return fmt.Sprintf("wrong region for bucket %s, set ?region= (%s: %s)", c.Bucket, resp.Code, oneLine(errors.New(resp.Message)))
		}
		msg := resp.Code
		if resp.Message != "" && resp.Message != resp.Code {
			msg += ": " + resp.Message
		}
		if resp.StatusCode != 0 && !strings.HasPrefix(resp.Code, strconv.Itoa(resp.StatusCode)) {
			msg = fmt.Sprintf("%s (HTTP %d)", msg, resp.StatusCode)
		}
		return fmt.Sprintf("%s: %s", action, oneLine(errors.New(msg)))
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // without the request's URL, long and not what is wrong
	}
	msg := oneLine(err)
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		msg += " (for plain HTTP, add ?insecure=true to the URL)"
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Sprintf("cannot reach %s: %s", c.Endpoint, msg)
	}
	return fmt.Sprintf("%s: %s", action, msg)
}

// oneLine keeps an error message to one line (a server's HTML error page
// can be a message) of bounded length.
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// object is the name of key's object. A key is a relative slash-separated
// path that stays inside the store, as for the embedded store (whose keys
// are file paths): the jobs service builds keys from ids, and a bad id
// must not reach another store's objects under a shared bucket. It is
// cleaned, so "a//b" and "a/../b" name the same blob as the embedded
// store's.
func (s *Store) object(key string) (string, error) {
	clean := path.Clean(key)
	if key == "" || path.IsAbs(key) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("blob key %q escapes the store", key)
	}
	return s.prefix + clean, nil
}

// emptySHA256 is the hex SHA-256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Put writes data under key, replacing what was there; readers see the
// old blob or the new one whole, never a part.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// One request whatever the size (up to S3's 5 GiB): blobs are
		// held in memory whole anyway, and a failed upload leaves no
		// parts behind to be billed for.
		DisableMultipart: true,
	}
	if len(data) == 0 {
		// Over plain HTTP the client signs a body in chunks, and for an
		// empty one it announces a length of 0 yet sends the closing
		// chunk, which the server then reads as a second, malformed
		// request. The empty body's hash is signed instead.
		opts.DisableContentSha256 = true
		_, err = minio.Core{Client: s.client}.PutObject(ctx, s.bucket, name, bytes.NewReader(nil), 0, "", emptySHA256, opts)
	} else {
		_, err = s.client.PutObject(ctx, s.bucket, name, bytes.NewReader(data), int64(len(data)), opts)
	}
	if err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	return nil
}

// Get reads key; airlock.ErrNotFound if there is no such blob.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	// One request: the object's size, then its body (minio.Client's
	// GetObject would ask for the size first, then for the body of that
	// version only, and fail when a Put came in between).
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.getErr(name, err)
	}
	defer body.Close()
	var buf bytes.Buffer
	// The size is the server's word: a hint, bounded, not an allocation
	// it may make as large as it says.
	buf.Grow(int(min(max(info.Size, 0), 64<<20)))
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, s.getErr(name, err)
	}
	if int64(buf.Len()) != info.Size {
		return nil, fmt.Errorf("s3: get %s: read %d bytes of %d", name, buf.Len(), info.Size)
	}
	return buf.Bytes(), nil
}

func (s *Store) getErr(name string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return airlock.ErrNotFound
	}
	return fmt.Errorf("s3: get %s: %w", name, err)
}

// Delete removes key; a missing key is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("s3: delete %s: %w", name, err)
	}
	return nil
}
