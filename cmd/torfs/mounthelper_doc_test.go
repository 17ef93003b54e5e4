package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fstabLine reports whether words are an /etc/fstab line of type torfs:
// SOURCE MOUNTPOINT torfs OPTIONS [DUMP [PASS]], and returns its
// mount.torfs call.
func fstabLine(words []string) (helperCall, bool) {
	if len(words) < 4 || len(words) > 6 || words[2] != "torfs" || !strings.HasPrefix(words[1], "/") {
		return helperCall{}, false
	}
	return helperCall{source: words[0], mountpoint: words[1], options: strings.Split(words[3], ",")}, true
}

// mountHelperLine returns the mount.torfs call a command line makes:
// an fstab line, or mount -t torfs [-o OPTIONS] SOURCE MOUNTPOINT.
func mountHelperLine(line string) (helperCall, bool, error) {
	words := shellWords(line)
	if c, ok := fstabLine(words); ok {
		return c, true, nil
	}
	if len(words) < 3 || words[0] != "mount" {
		return helperCall{}, false, nil
	}
	var args []string
	isTorfs := false
	for i := 1; i < len(words) && !isOperator(words[i]); i++ {
		if words[i] == "-t" && i+1 < len(words) {
			isTorfs = words[i+1] == "torfs"
			i++
			continue
		}
		args = append(args, words[i])
	}
	if !isTorfs {
		return helperCall{}, false, nil
	}
	c, err := parseHelperArgs(args)
	return c, true, err
}

// checkHelperCall checks that c's options are all known and that what
// mount.torfs makes of them parses as torfs mount flags.
func checkHelperCall(t *testing.T, where string, c helperCall) {
	t.Helper()
	args, warnings, err := helperMountArgs(c, commandFlags(mountCommand()), true)
	if err != nil || len(warnings) > 0 {
		t.Errorf("%s: mount.torfs would refuse it: %v %q", where, err, warnings)
		return
	}
	checkParses(t, where, append([]string{"mount"}, args...))
}

// TestREADMEMountHelperLines checks the README's fstab lines and mount
// -t torfs commands against mount.torfs and the flags of torfs mount.
func TestREADMEMountHelperLines(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "    ") {
			continue
		}
		where := "README line " + strconv.Itoa(i+1)
		c, ok, err := mountHelperLine(line)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if ok && err == nil {
			n++
			checkHelperCall(t, where, c)
		}
	}
	if n < 2 {
		t.Errorf("the README shows %d fstab lines or mount -t torfs commands, want both", n)
	}
}

// TestContribUnits checks the systemd units of contrib/: a .mount unit
// is named for its Where= and mount.torfs takes its options; the torfs
// command lines of a .service parse with the real flag sets.
func TestContribUnits(t *testing.T) {
	units, err := filepath.Glob("../../contrib/*.*")
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in contrib/ (%v)", err)
	}
	for _, path := range units {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]string{}
		var calls int
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok || strings.HasPrefix(k, "#") {
				continue
			}
			keys[k] = v
			if !strings.HasPrefix(k, "Exec") {
				continue
			}
			// %h is the user's home directory.
			words := shellWords(strings.ReplaceAll(v, "%h", "/home/u"))
			if len(words) > 0 && filepath.Base(words[0]) == "torfs" {
				calls++
				checkParses(t, path+" "+k, words[1:])
			}
		}
		f.Close()
		switch filepath.Ext(path) {
		case ".mount":
			if keys["Type"] != "torfs" {
				t.Errorf("%s: Type=%s, want torfs", path, keys["Type"])
			}
			if want := mountName(keys["Where"]) + ".mount"; filepath.Base(path) != want {
				t.Errorf("%s: systemd wants a mount unit for %s named %s", path, keys["Where"], want)
			}
			checkHelperCall(t, path, helperCall{source: keys["What"], mountpoint: keys["Where"], options: strings.Split(keys["Options"], ",")})
		case ".service":
			if calls < 2 || !strings.Contains(keys["ExecStop"], "torfs umount") {
				t.Errorf("%s: want torfs commands in ExecStart and ExecStop (torfs umount), found %d", path, calls)
			}
		}
	}
}
