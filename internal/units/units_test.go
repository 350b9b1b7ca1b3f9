package units

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{"256M": 256 << 20, "1g": 1 << 30, "512KiB": 512 << 10, "100": 100, "2MB": 2 << 20}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"12Q", "", "-1M", "M", "1.5G", "99999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if s := FormatSize(8 << 30); s != "8G" {
		t.Errorf("FormatSize = %s", s)
	}
}
