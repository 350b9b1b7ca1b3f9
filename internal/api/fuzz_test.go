package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecode: the request decoder answers every body with a decoded value
// or one of 400, 413, 422 and a message; it never panics.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"language":"python","code":"print(1)","callback_url":"https://example.com/hook"}`,
		`{"language":"python","files":[{"name":"a.py","content":"x"}],"limits":{"wall_ms":1000}}`,
		`{"language":`, `{"colour":"red"}`, `{"args":"a"}`, `{} {}`, `[1,2]`, `null`, `"\ud800"`,
		`{"limits":{"memory_mb":1e99}}`, `{"inputs":{"a":[` + strings.Repeat("[", 200) + `}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var body createRequest
		code, msg := decodeJSON(http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(data)), 4<<10), &body)
		switch code {
		case 0:
			if !json.Valid(bytes.TrimSpace(data)) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			if msg == "" {
				t.Fatal("refused without a message")
			}
		case http.StatusRequestEntityTooLarge:
			if len(data) <= 4<<10 {
				t.Fatalf("%d bytes called too large", len(data))
			}
		default:
			t.Fatalf("status %d for %q", code, data)
		}
	})
}
