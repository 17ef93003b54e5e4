package webui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// events sends the state as server-sent events, one at once and then one
// every interval, until the client goes away. The browser's EventSource
// reconnects by itself after an error.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A server's WriteTimeout would cut the stream; this one only ends
	// with the client.
	_ = rc.SetWriteDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // a proxy in front would hold the events back
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	buf.WriteString("retry: 2000\n")
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		buf.WriteString("data: ")
		// encoding/json escapes newlines inside strings, so the state
		// is one line: one data field.
		if err := json.NewEncoder(&buf).Encode(h.src.Status()); err != nil {
			h.log.Warn("web page: encoding the state", "err", err)
			return
		}
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		buf.Reset()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
