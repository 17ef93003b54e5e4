package tracker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff bounds for retried requests: the first retry waits about
// retryBase, each later one twice as long, never more than retryMax.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = time.Minute
	// attemptTimeout bounds one request, so a tracker that accepts the
	// connection and then says nothing cannot eat the whole deadline.
	attemptTimeout = 15 * time.Second
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, ErrFailure)
}

// backoff returns how long to wait before retry number n (0-based): an
// exponential delay with full jitter, so that many clients that failed
// together do not come back together.
func backoff(n int) time.Duration {
	d := retryMax
	if n < 16 {
		d = min(retryBase<<n, retryMax)
	}
	return d/2 + rand.N(d/2+1)
}

// retry runs attempt until it succeeds, fails permanently, or ctx ends.
func (c *Client) retry(ctx context.Context, url string, attempt func(context.Context) error) error {
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if isPermanent(err) {
			return unwrapPermanent(err)
		}
		if ctx.Err() != nil {
			return err
		}
		wait := backoff(n)
		c.logger().Debug("tracker request failed, retrying", "url", url, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func unwrapPermanent(err error) error {
	var p permanentError
	if errors.As(err, &p) {
		return p.err
	}
	return err
}
