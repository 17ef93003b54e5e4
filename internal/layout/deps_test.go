// Package layout checks the module's package structure: which packages
// may link which dependencies. It has tests only.
package layout

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// heavy are dependencies only the tracker server needs: a client of the
// swarm (fetch, the FUSE file system) must not link them just to announce.
var heavy = []string{"redis", "prometheus"}

// deps lists the packages pkg links, itself included, as go list -deps
// does (go test puts its own go first on PATH).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", pkg).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	return strings.Fields(string(out))
}

func heavyDeps(list []string) []string {
	var found []string
	for _, p := range list {
		for _, h := range heavy {
			if strings.Contains(p, h) {
				found = append(found, p)
				break
			}
		}
	}
	return found
}

func TestClientsDoNotLinkTheTrackerServer(t *testing.T) {
	for _, pkg := range []string{
		"github.com/torfs/torfs/tracker",
		"github.com/torfs/torfs/fetch",
		"github.com/torfs/torfs/fs",
	} {
		list := deps(t, pkg)
		if len(list) == 0 || list[len(list)-1] != pkg {
			t.Fatalf("go list -deps %s ends in %q, not the package itself", pkg, list[max(0, len(list)-1):])
		}
		if found := heavyDeps(list); len(found) > 0 {
			t.Errorf("%s links %d server-only packages, among them %s", pkg, len(found), found[0])
		}
	}
	// The check sees them where they belong.
	if found := heavyDeps(deps(t, "github.com/torfs/torfs/tracker/server")); len(found) == 0 {
		t.Error("tracker/server links neither redis nor prometheus: the check above cannot see them")
	}
}

// TestFSDoesNotLinkTheEngine keeps fs to the go-fuse node tree: it talks to
// the engine through its own interfaces (fs.Torrent, fs.Reader), and the
// adapter from fetch lives with the caller (package mount).
func TestFSDoesNotLinkTheEngine(t *testing.T) {
	const engine = "github.com/torfs/torfs/fetch"
	list := deps(t, "github.com/torfs/torfs/fs")
	if len(list) == 0 || list[len(list)-1] != "github.com/torfs/torfs/fs" {
		t.Fatalf("go list -deps fs ends in %q, not the package itself", list[max(0, len(list)-1):])
	}
	for _, p := range list {
		if p == engine || strings.HasPrefix(p, engine+"/") {
			t.Errorf("fs links %s", p)
		}
	}
	// The check sees the engine where it belongs.
	if !slices.Contains(deps(t, "github.com/torfs/torfs/mount"), engine) {
		t.Errorf("mount does not link %s: the check above cannot see it", engine)
	}
}
