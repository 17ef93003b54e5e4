package server

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// AllowList is the set of info-hashes a private tracker serves. Reload
// swaps in a new set atomically, so announces never wait for it.
type AllowList struct {
	path string
	set  atomic.Pointer[map[[20]byte]struct{}]
}

// LoadAllowList reads path: one info-hash a line as 40 hex digits;
// blank lines and lines starting with '#' are ignored.
func LoadAllowList(path string) (*AllowList, error) {
	a := &AllowList{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload re-reads the file (on SIGHUP). On error the old set stays.
func (a *AllowList) Reload() error {
	f, err := os.Open(a.path)
	if err != nil {
		return fmt.Errorf("allow list: %w", err)
	}
	defer f.Close()
	set := make(map[[20]byte]struct{})
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 20 {
			return fmt.Errorf("allow list %s line %d: %q is not a 40-digit hex info-hash", a.path, n, line)
		}
		set[[20]byte(b)] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("allow list %s: %w", a.path, err)
	}
	a.set.Store(&set)
	return nil
}

// Len is the number of info-hashes allowed.
func (a *AllowList) Len() int { return len(*a.set.Load()) }

// Allowed reports whether h is on the list.
func (a *AllowList) Allowed(h [20]byte) bool {
	_, ok := (*a.set.Load())[h]
	return ok
}
