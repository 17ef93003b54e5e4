package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// crash abandons c the way a killed process would: no final save.
func crash(c *Cache) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopSaver()
	<-c.saverDone
	<-c.journalerDone
	c.journal.close()
	c.files.close()
}

func TestResumeAfterCleanClose(t *testing.T) {
	tt := newTorrent(t, 20, 32<<10, multiFiles...)
	dir := t.TempDir()
	opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state")}
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := tt.info.NumPieces()
	for p := 1; p < n; p++ {
		download(t, c, tt, p)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = open(t, tt, opts)
	for p := range n {
		if c.Have(p) != (p != 0) || c.Unproven(p) {
			t.Fatalf("after a clean restart piece %d: have %v unproven %v", p, c.Have(p), c.Unproven(p))
		}
	}
	// Nothing verified needs to be downloaded again: it is readable now.
	checkRead(t, c, tt, tt.info.PieceOffset(1), tt.info.Length-tt.info.PieceOffset(1))
	if st := c.Stats(); st.Verified != n-1 || st.Unproven != 0 {
		t.Fatalf("Stats after restart = %+v", st)
	}
}

// TestResumeAfterCrashRequiresProof: an unclean state without a journal,
// as versions before the journal wrote, vouches for nothing after a
// crash: its pieces are checked again.
func TestResumeAfterCrashRequiresProof(t *testing.T) {
	tt := newTorrent(t, 21, 32<<10, multiFiles...)
	dir := t.TempDir()
	opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state"), SaveInterval: 10 * time.Millisecond}
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := tt.info.NumPieces()
	for p := range n {
		if p != 2 {
			download(t, c, tt, p)
		}
	}
	// Let the timer save the verified pieces (an unclean state), then die.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		dirty := c.dirty
		c.mu.Unlock()
		if !dirty || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A piece half written at the moment of the crash.
	if err := c.WriteBlock(2, 0, tt.piece(2)[:5000]); err != nil {
		t.Fatal(err)
	}
	crash(c)
	forgetJournal(t, opts.StateFile)

	c = open(t, tt, opts)
	for p := range n {
		if c.Have(p) {
			t.Fatalf("piece %d served after a crash without proof", p)
		}
	}
	if _, err := c.ReadAt(make([]byte, 10), 0); !isNotVerified(err) {
		t.Fatalf("ReadAt after crash: %v, want ErrNotVerified", err)
	}
	for p := range n {
		want := p != 2
		if c.Unproven(p) != want {
			t.Fatalf("Unproven(%d) = %v, want %v", p, !want, want)
		}
		ok, err := c.Prove(p)
		if err != nil || ok != want {
			t.Fatalf("Prove(%d) = %v, %v; want %v", p, ok, err, want)
		}
	}
	checkRead(t, c, tt, 0, tt.info.PieceOffset(2))
	checkInvariants(t, c)
}

// forgetJournal rewrites the state at path as versions before the
// journal wrote it: without the journal's name.
func forgetJournal(t *testing.T, path string) {
	t.Helper()
	var st map[string]any
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st["journal"]; !ok {
		t.Fatal("the unclean state names no journal")
	}
	delete(st, "journal")
	if b, err = json.Marshal(st); err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestTamperedFileDetected(t *testing.T) {
	tt := newTorrent(t, 22, 32<<10, multiFiles...)
	dir := t.TempDir()
	opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state")}
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := tt.info.NumPieces()
	for p := range n {
		download(t, c, tt, p)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Change one byte of file "b" behind the cache's back.
	bfile := filepath.Join(dir, tt.info.Name, "b")
	f, err := os.OpenFile(bfile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const at = 100_000
	if _, err := f.WriteAt([]byte{^tt.data[tt.info.Files[3].Offset+at]}, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	future := time.Now().Add(time.Hour) // coarse mtime clocks must still see a change
	os.Chtimes(bfile, future, future)

	c = open(t, tt, opts)
	bFirst, bLast := tt.info.FilePieces(3, 0, tt.info.Files[3].Length)
	bad := int((tt.info.Files[3].Offset + at) / tt.info.PieceLength)
	for p := range n {
		inB := p >= bFirst && p <= bLast
		if c.Unproven(p) != inB || c.Have(p) == inB {
			t.Fatalf("piece %d (in changed file: %v): unproven %v have %v", p, inB, c.Unproven(p), c.Have(p))
		}
	}
	var proved []int
	if err := c.ProveAll(context.Background(), func(done, total int) { proved = append(proved, done) }); err != nil {
		t.Fatal(err)
	}
	if len(proved) != bLast-bFirst+1 || proved[len(proved)-1] != len(proved) {
		t.Fatalf("progress calls %v, want 1..%d", proved, bLast-bFirst+1)
	}
	for p := range n {
		if c.Have(p) == (p == bad) || c.Unproven(p) {
			t.Fatalf("after ProveAll piece %d: have %v unproven %v (tampered piece %d)", p, c.Have(p), c.Unproven(p), bad)
		}
	}
}

// TestExistingFilesWithoutState is how a seeder checks data it already
// has: complete files are unproven until hashed; missing or short files'
// pieces are simply missing.
func TestExistingFilesWithoutState(t *testing.T) {
	tt := newTorrent(t, 23, 32<<10, multiFiles...)
	dir := t.TempDir()
	root := filepath.Join(dir, tt.info.Name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := tt.info.Files[0], tt.info.Files[3]
	os.WriteFile(filepath.Join(root, "a"), tt.data[a.Offset:a.Offset+a.Length], 0o644)
	os.WriteFile(filepath.Join(root, "b"), tt.data[b.Offset:b.Offset+b.Length/2], 0o644) // short
	os.WriteFile(filepath.Join(root, "c"), []byte("wrong"), 0o644)                       // right size, wrong bytes
	c := open(t, tt, Options{Dir: dir, StateFile: filepath.Join(dir, "state")})

	for p := range tt.info.NumPieces() {
		// Pieces that need bytes past the end of the short "b" are
		// missing (the last one too: it needs b's tail and c).
		want := tt.info.PieceOffset(p)+tt.info.PieceSize(p) <= b.Offset+b.Length/2
		if c.Unproven(p) != want {
			t.Fatalf("Unproven(%d) = %v, want %v", p, !want, want)
		}
	}
	if err := c.ProveAll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Unproven != 0 || st.Verified == 0 {
		t.Fatalf("after ProveAll: %+v", st)
	}
	checkRead(t, c, tt, 0, a.Length)
}

func TestForeignOrCorruptStateIgnored(t *testing.T) {
	tt := newTorrent(t, 24, 32<<10, multiFiles...)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c, err := Open(tt.info, Options{Dir: dir, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
	}
	c.Close()
	os.WriteFile(state, []byte("{not json"), 0o644)
	c = open(t, tt, Options{Dir: dir, StateFile: state})
	if c.Have(0) || !c.Unproven(0) {
		t.Fatalf("corrupt state: have %v unproven %v, want unproven", c.Have(0), c.Unproven(0))
	}
}

func TestCancelledProveAll(t *testing.T) {
	tt := newTorrent(t, 25, 32<<10, multiFiles...)
	dir := t.TempDir()
	c, err := Open(tt.info, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
	}
	c.Close()
	c = open(t, tt, Options{Dir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.ProveAll(ctx, nil); err == nil {
		t.Fatal("ProveAll with a cancelled context succeeded")
	}
}

// TestSeedOverUserFilesNeverDestroysData: a budget of the torrent's size
// keeps everything; a wrong piece in the user's files is not served but
// the file is left exactly as it was.
func TestSeedOverUserFilesNeverDestroysData(t *testing.T) {
	tt := newTorrent(t, 26, 32<<10, multiFiles...)
	dir := t.TempDir()
	root := filepath.Join(dir, tt.info.Name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, f := range tt.info.Files {
		if f.Pad {
			continue
		}
		content := bytes.Clone(tt.data[f.Offset : f.Offset+f.Length])
		if f.Path[0] == "b" {
			content[1000] ^= 1 // one wrong piece
		}
		want[f.Path[0]] = content
		if err := os.WriteFile(filepath.Join(root, f.Path[0]), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, tt, Options{Dir: dir, Budget: tt.info.Length})
	if err := c.ProveAll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	bad := int((tt.info.Files[3].Offset + 1000) / tt.info.PieceLength)
	for p := range tt.info.NumPieces() {
		if c.Have(p) == (p == bad) {
			t.Fatalf("piece %d: have %v (wrong piece %d)", p, c.Have(p), bad)
		}
	}
	if c.Stats().Evictions != 0 {
		t.Fatal("a budget of the torrent's size evicted pieces")
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s was modified by the cache (err %v)", name, err)
		}
	}
}
