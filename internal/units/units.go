// Package units parses and prints human sizes such as 256M.
package units

import (
	"fmt"
	"strconv"
	"strings"
)

var suffixes = map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}

// ParseSize reads a byte count with an optional K, M, G or T suffix
// (binary multiples; a trailing "B" or "iB" is accepted).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if m, ok := suffixes[t[n-1]]; ok {
			mult, t = m, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (want a number with an optional K, M or G suffix)", s)
	}
	return v * mult, nil
}

// FormatSize prints a byte count with the largest exact suffix.
func FormatSize(n int64) string {
	for _, u := range []byte{'T', 'G', 'M', 'K'} {
		if m := suffixes[u]; n >= m && n%m == 0 {
			return fmt.Sprintf("%d%c", n/m, u)
		}
	}
	return strconv.FormatInt(n, 10)
}
