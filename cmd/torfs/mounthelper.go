package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// mountHelperName is the name torfs answers to as mount(8)'s helper for
// file systems of type torfs: /sbin/mount.torfs, a symlink to torfs
// (make install), lets an /etc/fstab line or a systemd .mount unit with
// type torfs mount a torrent.
const mountHelperName = "mount.torfs"

// rootCacheDir is the helper's cache directory for root, who mounts at
// boot without a home directory of its own; the DHT state goes there
// too.
const rootCacheDir = "/var/cache/torfs"

// Exit statuses of a mount helper, as mount(8) documents them.
const (
	helperUsage   = 1  // incorrect invocation or permissions
	helperFailure = 32 // mount failure
)

const mountHelperUsage = `Usage: mount.torfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]

mount(8) runs this for a file system of type torfs: an /etc/fstab line
such as

  /srv/t/big.torrent /mnt/t torfs cache_size=2GiB,readahead=16MiB,allow_other,_netdev 0 0

or 'mount -t torfs -o OPTIONS SOURCE MOUNTPOINT'. It runs
'torfs mount --daemon SOURCE MOUNTPOINT' and exits once the mount is live;
'umount MOUNTPOINT' ends it. Each option NAME[=VALUE] is the torfs mount
flag --NAME (with - for _): cache_size=, cache_dir= (default for root
/var/cache/torfs, with the DHT state), readahead=, keep, peer=, tracker=, listen=, no_dht,
log=, pid_file=...; allow_other is -o allow_other. The options of mount(8)
itself (defaults, noauto, nofail, _netdev, user, ro, rw, nosuid, nodev,
noexec, x-systemd.*...) are accepted and mean nothing more: the mount is
read-only whatever they say. Any other option is an error (-s: a warning).

  -s  sloppy: ignore unknown options
  -f  fake: check the options, do not mount
  -n  no mtab (accepted; there is none)
  -v  verbose: print the torfs mount command and its output
`

// helperCall is one invocation of mount.torfs, as mount(8) makes it.
type helperCall struct {
	source, mountpoint string
	options            []string // the -o lists, split at commas
	sloppy, fake       bool
	verbose            bool
}

// parseHelperArgs reads SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t TYPE],
// the options anywhere.
func parseHelperArgs(args []string) (helperCall, error) {
	var c helperCall
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 's':
				c.sloppy = true
			case 'f':
				c.fake = true
			case 'n':
			case 'v':
				c.verbose = true
			case 'o', 't':
				// The value is the rest of this word, or the next one.
				val := a[j+1:]
				if val == "" {
					if i+1 == len(args) {
						return c, fmt.Errorf("-%c needs a value", a[j])
					}
					i++
					val = args[i]
				}
				if a[j] == 'o' {
					for _, o := range strings.Split(val, ",") {
						if o != "" {
							c.options = append(c.options, o)
						}
					}
				}
				j = len(a)
			default:
				return c, fmt.Errorf("unknown flag -%c in %s", a[j], a)
			}
		}
	}
	if len(pos) != 2 {
		return c, fmt.Errorf("want SOURCE and MOUNTPOINT, got %d arguments", len(pos))
	}
	c.source, c.mountpoint = pos[0], pos[1]
	return c, nil
}

// genericMountOption reports whether o is an option of mount(8) or of
// fstab rather than of the file system. None changes a torfs mount,
// which is read-only and has neither set-user-ID files nor devices; rw
// among them because mount(8) passes it unless ro is given.
func genericMountOption(o string) bool {
	name, _, _ := strings.Cut(o, "=")
	switch name {
	case "defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group",
		"nofail", "_netdev", "ro", "rw", "nosuid", "suid", "nodev", "dev", "exec", "noexec",
		"atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
		"diratime", "nodiratime", "lazytime", "nolazytime", "sync", "async",
		"silent", "loud", "comment", "helper":
		return true
	}
	return strings.HasPrefix(name, "x-")
}

// helperMountArgs turns a mount.torfs call into the arguments of torfs
// mount: --daemon, a flag for each option of the file system, and
// SOURCE and MOUNTPOINT. Each unknown option is an error, or with
// sloppy a warning. flags are torfs mount's flags.
func helperMountArgs(c helperCall, flags []flagSpec, root bool) (args, warnings []string, err error) {
	byName := map[string]flagSpec{}
	for _, f := range flags {
		byName[f.name] = f
	}
	args = []string{"--daemon"}
	cacheDir, dhtState := "", false
	for _, o := range c.options {
		name, val, hasVal := strings.Cut(o, "=")
		flagName := strings.ReplaceAll(name, "_", "-")
		f, ok := byName[flagName]
		switch {
		case o == "allow_other":
			args = append(args, "-o", "allow_other")
			continue
		case !ok && genericMountOption(o):
			continue
		}
		msg := fmt.Sprintf("unknown option %q (torfs mount has no flag --%s)", o, flagName)
		if ok && (flagName == "daemon" || flagName == "o") {
			ok = false
			msg = fmt.Sprintf("unknown option %q (%s always runs torfs mount --daemon, whose -o takes only allow_other)", o, mountHelperName)
		}
		if !ok {
			if !c.sloppy {
				return nil, nil, errors.New(msg)
			}
			warnings = append(warnings, msg+": ignored")
			continue
		}
		if f.value && !hasVal {
			return nil, nil, fmt.Errorf("option %s needs a value: %s=VALUE", name, name)
		}
		if flagName == "cache-dir" {
			cacheDir = val
		}
		dhtState = dhtState || flagName == "dht-state"
		if hasVal {
			args = append(args, "--"+flagName+"="+val)
		} else {
			args = append(args, "--"+flagName)
		}
	}
	if root && cacheDir == "" {
		cacheDir = rootCacheDir
		args = append(args, "--cache-dir="+cacheDir)
	}
	if root && !dhtState {
		// Its default is in $HOME, which a boot does not have.
		args = append(args, "--dht-state="+filepath.Join(cacheDir, "dht.state"))
	}
	// After "--", a source or mountpoint that starts with - is no flag.
	return append(args, "--", c.source, c.mountpoint), warnings, nil
}

// runMountHelper is torfs run as mount.torfs; it returns the exit
// status mount(8) expects.
func runMountHelper(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, mountHelperUsage)
		return 0
	}
	c, err := parseHelperArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nrun '%s --help' for usage\n", mountHelperName, err, mountHelperName)
		return helperUsage
	}
	margs, warnings, err := helperMountArgs(c, commandFlags(mountCommand()), os.Geteuid() == 0)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return helperUsage
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", mountHelperName, w)
	}
	out := io.Discard
	if c.verbose {
		out = stdout
		fmt.Fprintf(stdout, "%s: torfs mount %s\n", mountHelperName, strings.Join(margs, " "))
	}
	if c.fake {
		return 0
	}
	err = runMount(ctx, margs, out, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return helperUsage
	default:
		fmt.Fprintf(stderr, "%s: %s\n", mountHelperName, userMessage(err))
		return helperFailure
	}
}
