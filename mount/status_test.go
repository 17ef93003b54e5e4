package mount

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/torfs/torfs/fetch"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// JSONKeys lists the JSON keys of a status type and of the structs it
// holds, as "path.key" (torrents.peers.addr).
func jsonKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name // what encoding/json would use
		}
		*out = append(*out, prefix+name)
		jsonKeys(f.Type, prefix+name+".", out)
	}
}

// TestStatusJSONKeysSnakeCase checks that every key of the status page
// and of torfs status --json is snake_case (as torfs info --json's), the
// info-hash under the same key as there.
func TestStatusJSONKeysSnakeCase(t *testing.T) {
	var keys []string
	jsonKeys(reflect.TypeFor[Status](), "", &keys)
	for _, k := range keys {
		last := k[strings.LastIndex(k, ".")+1:]
		if !snakeCase.MatchString(last) {
			t.Errorf("status key %s is not snake_case", k)
		}
	}
	for _, want := range []string{"torrents.info_hash", "resolving.info_hash", "torrents.peers.download_rate"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("the status has no key %s; keys: %v", want, keys)
		}
	}
}

// TestPeerStatusHasEveryPeerStat fails when fetch.PeerStats gains a field
// that the status page does not show.
func TestPeerStatusHasEveryPeerStat(t *testing.T) {
	ps, st := reflect.TypeFor[fetch.PeerStats](), reflect.TypeFor[PeerStatus]()
	for i := range ps.NumField() {
		f := ps.Field(i)
		g, ok := st.FieldByName(f.Name)
		if !ok || g.Type != f.Type {
			t.Errorf("fetch.PeerStats.%s (%s) is missing from PeerStatus", f.Name, f.Type)
		}
	}
	var p fetch.PeerStats
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		// A distinct non-zero value in each field shows each copied.
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(ps.Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Float64:
			f.SetFloat(float64(i + 1))
		}
	}
	got := reflect.ValueOf(peerStatus(p))
	for i := range v.NumField() {
		name := ps.Field(i).Name
		if g := got.FieldByName(name); g.IsValid() && !reflect.DeepEqual(g.Interface(), v.Field(i).Interface()) {
			t.Errorf("peerStatus copies %s as %v, want %v", name, g.Interface(), v.Field(i).Interface())
		}
	}
}
