// Package webhook delivers results to a submission's callback_url: a POST
// of the result JSON, retried with backoff, each attempt bounded in time.
// Unless the operator allows it, a callback may not reach this host (its
// loopback or its own addresses), checked when connecting, so DNS cannot
// be used to sneak past it.
package webhook

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Sender posts callbacks.
type Sender struct {
	client   *http.Client
	attempts int
	backoff  time.Duration
}

// Options tune a Sender.
type Options struct {
	AllowLocal bool          // let callbacks reach this host
	Timeout    time.Duration // per attempt; default 10s
	Attempts   int           // default 3
	Backoff    time.Duration // before the second attempt, doubling after; default 1s
}

// New makes a Sender.
func New(opt Options) *Sender {
	if opt.Timeout == 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Attempts == 0 {
		opt.Attempts = 3
	}
	if opt.Backoff == 0 {
		opt.Backoff = time.Second
	}
	dialer := &net.Dialer{Timeout: opt.Timeout}
	if !opt.AllowLocal {
		dialer.Control = refuseLocal
	}
	return &Sender{
		client: &http.Client{
			Timeout:   opt.Timeout,
			Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is an answer, not an invitation
			},
		},
		attempts: opt.Attempts,
		backoff:  opt.Backoff,
	}
}

// Validate checks a callback URL when a job is submitted.
func Validate(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// Call is one callback: a request of JSON, and when to stop retrying it.
type Call struct {
	Method string // default POST
	URL    string
	Body   []byte
	// Timeout bounds each attempt, within the Sender's; 0: the Sender's.
	Timeout time.Duration
	// AnyAnswer ends the attempts at the first HTTP answer, whatever its
	// status (Judge0 retries only a request that failed); by default only
	// a 2xx answer ends them.
	AnyAnswer bool
}

// Send posts body to target until it answers 2xx or the attempts run out.
func (s *Sender) Send(ctx context.Context, target string, body []byte) error {
	return s.Deliver(ctx, Call{URL: target, Body: body})
}

// Deliver makes a call, retried with backoff until it is answered as it
// asks or the attempts run out.
func (s *Sender) Deliver(ctx context.Context, c Call) error {
	var err error
	wait := s.backoff
	for attempt := 1; attempt <= s.attempts; attempt++ {
		if err = s.try(ctx, c); err == nil {
			return nil
		}
		if attempt < s.attempts {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			wait *= 2
		}
	}
	return fmt.Errorf("callback %s: %w", c.URL, err)
}

func (s *Sender) try(ctx context.Context, c Call) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, cmp.Or(c.Method, http.MethodPost), c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && !c.AnyAnswer {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// refuseLocal stops connections to this host's own addresses.
func refuseLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
		return fmt.Errorf("callbacks to %s are not allowed", host)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return fmt.Errorf("callbacks to this host (%s) are not allowed", host)
		}
	}
	return nil
}
