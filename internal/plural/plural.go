// Package plural writes counts with their noun for the messages people
// read: "1 peer", "3 peers". One place, so every message agrees.
package plural

import "strconv"

// Count writes n followed by one when n is 1, else by many.
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
