package judge0_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// runValidation runs TestSubmissions's subtests of Judge0's 422s, field by field.
func (s suite) runValidation(t *testing.T) {
	user := s.user
	t.Run("validation", func(t *testing.T) {
		t.Parallel()
		many := map[string][]byte{}
		for i := range 1025 {
			many[fmt.Sprintf("f%04d", i)] = nil
		}
		manyZip := base64.StdEncoding.EncodeToString(zipOf(t, many))
		// A directory that claims more than the data holds: refused
		// before the entry is read.
		var claim bytes.Buffer
		w := zip.NewWriter(&claim)
		f, err := w.CreateRaw(&zip.FileHeader{Name: "big.bin", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: 10241 << 10})
		if err == nil {
			_, err = f.Write([]byte("x"))
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		claimZip := base64.StdEncoding.EncodeToString(claim.Bytes())
		zip := base64.StdEncoding.EncodeToString(zipOf(t, map[string][]byte{"big.bin": make([]byte, 10241<<10)}))
		for _, c := range []struct {
			name string
			body any
			want string
		}{
			{"no source_code", `{"language_id":71}`, `{"source_code":["can't be blank"]}`},
			{"blank source_code", `{"language_id":71,"source_code":"  \n"}`, `{"source_code":["can't be blank"]}`},
			{"no language_id", `{"source_code":"print(1)"}`, `{"language_id":["can't be blank","language with id  doesn't exist"]}`},
			{"unknown language", `{"source_code":"print(1)","language_id":9999}`, `{"language_id":["language with id 9999 doesn't exist"]}`},
			{"language as a string", `{"source_code":"print(1)","language_id":"9999"}`, `{"language_id":["language with id 9999 doesn't exist"]}`},
			{"cpu_time_limit", py("x", "cpu_time_limit", 16), `{"cpu_time_limit":["must be less than or equal to 15.0"]}`},
			{"memory_limit", py("x", "memory_limit", 1000), `{"memory_limit":["must be greater than or equal to 2048"]}`},
			{"number_of_runs", py("x", "number_of_runs", 0), `{"number_of_runs":["must be greater than 0"]}`},
			{"not a number", py("x", "cpu_time_limit", "abc"), `{"cpu_time_limit":["is not a number"]}`},
			{"every maximum", py("x", "number_of_runs", 21, "cpu_extra_time", 6, "wall_time_limit", 21, "memory_limit", 512001,
				"stack_limit", 128001, "max_processes_and_or_threads", 121, "max_file_size", 4097),
				`{"number_of_runs":["must be less than or equal to 20"],"cpu_extra_time":["must be less than or equal to 5.0"],` +
					`"wall_time_limit":["must be less than or equal to 20.0"],"memory_limit":["must be less than or equal to 512000"],` +
					`"stack_limit":["must be less than or equal to 128000"],"max_processes_and_or_threads":["must be less than or equal to 120"],` +
					`"max_file_size":["must be less than or equal to 4096"]}`},
			{"network", py("x", "enable_network", true), `{"enable_network":["enabling network is not allowed"]}`},
			{"compiler_options for python", py("x", "compiler_options", "-O2"), `{"compiler_options":["setting compiler options is only allowed for compiled languages"]}`},
			// Rails runs every validation, in the model's order.
			{"errors in the model's order", py("", "enable_network", "true", "compiler_options", "-O2", "max_file_size", 5000, "enable_per_process_and_thread_time_limit", true),
				`{"source_code":["can't be blank"],"enable_per_process_and_thread_time_limit":["this option cannot be enabled"],` +
					`"max_file_size":["must be less than or equal to 4096"],"compiler_options":["setting compiler options is only allowed for compiled languages"],` +
					`"enable_network":["enabling network is not allowed"]}`},
			{"options too long", py("x", "command_line_arguments", strings.Repeat("a", 513)), `{"command_line_arguments":["is too long (maximum is 512 characters)"]}`},
			{"not a zip", py("x", "additional_files", b64("not a zip")), `{"additional_files":["is not a valid zip archive"]}`},
			{"zip over 10240 KB", py("x", "additional_files", zip), `{"additional_files":["extracts to more than 10240 KB"]}`},
			{"zip declaring over 10240 KB", py("x", "additional_files", claimZip), `{"additional_files":["extracts to more than 10240 KB"]}`},
			{"zip of 1025 entries", py("x", "additional_files", manyZip), `{"additional_files":["has more than 1024 entries"]}`},
		} {
			r := user.do(t, "POST", "/submissions", c.body)
			if r.code != http.StatusUnprocessableEntity || string(r.raw) != c.want {
				t.Errorf("%s: %d %s\nwant 422 %s", c.name, r.code, r.raw, c.want)
			}
		}
		r := user.do(t, "POST", "/submissions", py("x", "callback_url", "ftp://example.com/"))
		if r.code != http.StatusUnprocessableEntity || !slices.Equal(keys(t, r.raw), []string{"callback_url"}) {
			t.Errorf("callback_url: %d %s", r.code, r.raw)
		}
		if r := user.do(t, "POST", "/submissions", `{"source_code":`); r.code != http.StatusBadRequest {
			t.Errorf("malformed JSON: %d %s", r.code, r.raw)
		}
	})
}
