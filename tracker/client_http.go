package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseSize bounds what the client reads from an HTTP tracker: a
// generous answer (200 peers in both families plus text) is a few KiB,
// and a scrape of many swarms stays far below this.
const maxResponseSize = 1 << 20

// defaultHTTP is used when Client.HTTP is nil. It is immutable after
// creation and safe to share.
var defaultHTTP = &http.Client{
	Timeout: attemptTimeout,
	// A tracker that redirects in circles is broken; a few hops are fine.
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	},
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// announceURL appends the announce parameters to the tracker's URL,
// keeping any query the URL already has (private trackers put passkeys
// there).
func announceURL(u *url.URL, req AnnounceRequest) string {
	var b strings.Builder
	b.WriteString(u.String())
	if u.RawQuery == "" {
		b.WriteByte('?')
	} else {
		b.WriteByte('&')
	}
	b.WriteString("info_hash=")
	writeEscaped(&b, req.InfoHash[:])
	b.WriteString("&peer_id=")
	writeEscaped(&b, req.PeerID[:])
	b.WriteString("&port=" + strconv.Itoa(int(req.Port)))
	b.WriteString("&uploaded=" + strconv.FormatInt(req.Uploaded, 10))
	b.WriteString("&downloaded=" + strconv.FormatInt(req.Downloaded, 10))
	b.WriteString("&left=" + strconv.FormatInt(req.Left, 10))
	b.WriteString("&compact=1")
	if ev := req.Event.String(); ev != "" {
		b.WriteString("&event=" + ev)
	}
	if req.NumWant > 0 {
		b.WriteString("&numwant=" + strconv.Itoa(req.NumWant))
	}
	if req.Key != 0 {
		b.WriteString("&key=" + strconv.FormatUint(uint64(req.Key), 16))
	}
	if req.TrackerID != "" {
		b.WriteString("&trackerid=")
		writeEscaped(&b, []byte(req.TrackerID))
	}
	return b.String()
}

func (c *Client) announceHTTP(ctx context.Context, u *url.URL, req AnnounceRequest) (*AnnounceResponse, error) {
	body, err := c.get(ctx, c.familyHTTP(req.Family), announceURL(u, req))
	if err != nil {
		return nil, err
	}
	resp, err := ParseAnnounceResponse(body)
	if err != nil {
		var f *FailureError
		if errors.As(err, &f) {
			f.URL = u.Redacted()
		}
		return nil, err
	}
	return resp, nil
}

// scrapeURL derives the BEP 48 scrape URL from an announce URL.
func scrapeURL(u *url.URL) (*url.URL, error) {
	i := strings.LastIndexByte(u.Path, '/')
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return nil, fmt.Errorf("tracker %s does not support scrape: its path does not end in /announce", u.Redacted())
	}
	s := *u
	s.Path = u.Path[:i+1] + "scrape" + u.Path[i+1+len("announce"):]
	s.RawPath = ""
	return &s, nil
}

func (c *Client) scrapeHTTP(ctx context.Context, u *url.URL, hashes [][20]byte) (map[[20]byte]ScrapeStats, error) {
	s, err := scrapeURL(u)
	if err != nil {
		return nil, permanent(err)
	}
	var b strings.Builder
	b.WriteString(s.String())
	sep := byte('?')
	if s.RawQuery != "" {
		sep = '&'
	}
	for _, h := range hashes {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString("info_hash=")
		writeEscaped(&b, h[:])
	}
	body, err := c.get(ctx, c.httpClient(), b.String())
	if err != nil {
		return nil, err
	}
	out, err := ParseScrapeResponse(body)
	if err != nil {
		var f *FailureError
		if errors.As(err, &f) {
			f.URL = u.Redacted()
		}
	}
	return out, err
}

// get fetches a tracker URL and returns its body, at most maxResponseSize
// bytes. Non-200 answers are errors; 4xx ones are not retried.
func (c *Client) get(ctx context.Context, hc *http.Client, rawURL string) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, permanent(fmt.Errorf("tracker request: %w", err))
	}
	hreq.Header.Set("User-Agent", "torfs/0.1")
	hreq.Header.Set("Accept-Encoding", "identity")
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("tracker unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading tracker answer: %w", err)
	}
	if len(body) > maxResponseSize {
		return nil, fmt.Errorf("tracker answer larger than %d bytes", maxResponseSize)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("tracker answered HTTP %s", resp.Status)
		// A failure reason may come with a 4xx status; prefer it.
		if _, perr := ParseAnnounceResponse(body); errors.Is(perr, ErrFailure) {
			err = perr
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return nil, permanent(err)
		}
		return nil, err
	}
	return body, nil
}

// seconds converts a tracker's interval in seconds, clamping nonsense
// (negative, or beyond a day) so a hostile tracker cannot park a client.
func seconds(n int64) time.Duration {
	const maxInterval = 24 * time.Hour
	if n <= 0 {
		return 0
	}
	if n > int64(maxInterval/time.Second) {
		return maxInterval
	}
	return time.Duration(n) * time.Second
}

// writeEscaped percent-encodes every byte but RFC 3986's unreserved
// ones. url.QueryEscape would turn a 0x20 byte into '+', which some
// trackers (opentracker) do not decode: one info-hash in thirteen has one.
func writeEscaped(b *strings.Builder, raw []byte) {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range raw {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}
